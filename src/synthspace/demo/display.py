"""The step UI: a rich status line per step, a tick with its duration when it ends."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

class Steps:
    """A rich status line per step, a tick with its duration when it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: list[dict[str, Any]] = []
        self.number = 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Callable[[str], None]]:
        self.number += 1
        label = f"[{self.number:>2}] {title}"
        started = time.perf_counter()
        ok = False
        with self.console.status(label, spinner="dots") as status:

            def update(message: str) -> None:
                status.update(f"{label}: {message}")

            try:
                yield update
                ok = True
            finally:
                seconds = time.perf_counter() - started
                self.timings.append({"step": title, "seconds": round(seconds, 2), "ok": ok})
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"{mark} {label} [dim]({seconds:.1f} s)[/dim]")

    def note(self, text: str) -> None:
        self.console.print(f"     {text}", highlight=False)


def _gen_message(p: Any) -> str:
    rate = p.session_completed / p.elapsed if p.elapsed > 0 else 0.0
    toks = p.session_tokens / p.elapsed if p.elapsed > 0 else 0.0
    return (
        f"{p.completed}/{p.requested} records ({rate:.2f} rec/s, {toks:.0f} tok/s), "
        f"{p.retries} retried, {p.dropped} dropped"
    )


def _gen_progress(say: Callable[[str], None]) -> Callable[[Any], None]:
    def progress(p: Any) -> None:
        say(_gen_message(p))

    return progress
