"""Collect witness cosignatures on the log's checkpoints (the log's side of C2SP tlog-witness).

For each configured witness the collector remembers the size it believes the witness has (0 at
first), sends the new checkpoint with a consistency proof from that size, and on 409 learns the
witness's size from the body and retries once. Every cosignature is verified against the
witness's key before it is kept. The cosigned note is written atomically to
HOME/log/cosigned-checkpoint, where every server process of this home serves it from.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from synthspace.atomic_files import atomic_write_text
from synthspace.checkpoint import split_note
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.settings import CoordinatorSettings, WitnessEndpoint
from synthspace.witness import (
    AddCheckpoint,
    WitnessError,
    WitnessKey,
    add_cosignatures,
    verify_cosignatures,
)

logger = logging.getLogger("synthspace.coordinator.witnessing")


def cosigned_path(settings: CoordinatorSettings) -> Path:
    return settings.home / "log" / "cosigned-checkpoint"


def read_cosigned(settings: CoordinatorSettings) -> str | None:
    path = cosigned_path(settings)
    return path.read_text(encoding="utf-8") if path.is_file() else None


@dataclass
class CollectResult:
    size: int
    cosigned_by: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # witness name -> why (status and body)


class CosignatureCollector:
    def __init__(self, coord: Coordinator, timeout_s: float = 5.0) -> None:
        self.coord = coord
        self.endpoints: list[tuple[WitnessEndpoint, WitnessKey]] = [
            (w, WitnessKey.from_string(w.key)) for w in coord.settings.witnesses
        ]
        self.known_size: dict[str, int] = {}
        self.last_size = -1
        self.timeout_s = timeout_s

    def collect(self) -> CollectResult:
        """Ask every witness to cosign the current checkpoint; write the cosigned note."""
        with self.coord.session() as session:
            note = self.coord.log.checkpoint(session)
            size = int(split_note(note)[0].split("\n")[1])
            proofs: dict[int, list[bytes]] = {}

            def proof_from(old: int) -> list[bytes]:
                if old not in proofs:
                    proofs[old] = self.coord.log.consistency_proof(session, old, size) if 0 < old <= size else []
                return proofs[old]

            result = CollectResult(size=size)
            lines: list[str] = []
            with httpx.Client(timeout=self.timeout_s) as client:
                for endpoint, wkey in self.endpoints:
                    line = self._ask(client, endpoint, wkey, note, size, proof_from, result)
                    if line:
                        lines.append(line)
        cosigned = add_cosignatures(note, lines)
        path = cosigned_path(self.coord.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, cosigned)
        self.last_size = size
        return result

    def _ask(
        self,
        client: httpx.Client,
        endpoint: WitnessEndpoint,
        wkey: WitnessKey,
        note: str,
        size: int,
        proof_from: Callable[[int], list[bytes]],
        result: CollectResult,
    ) -> str | None:
        old = self.known_size.get(wkey.name, 0)
        for _ in range(2):
            if old > size:
                result.refused[wkey.name] = f"witness has size {old}, beyond this log's {size}"
                return None
            body = AddCheckpoint(old, tuple(proof_from(old)), note).to_bytes()
            try:
                resp = client.post(endpoint.url + "/add-checkpoint", content=body)
            except httpx.HTTPError as exc:
                result.refused[wkey.name] = f"unreachable: {exc}"
                return None
            if resp.status_code == 409 and resp.text.strip().isdigit():
                old = int(resp.text.strip())
                continue
            if resp.status_code != 200:
                result.refused[wkey.name] = f"HTTP {resp.status_code}: {resp.text.strip()[:200]}"
                return None
            line = resp.text if resp.text.endswith("\n") else resp.text + "\n"
            try:
                if wkey.name not in verify_cosignatures(add_cosignatures(note, [line]), [wkey]):
                    raise WitnessError("the reply holds no cosignature by this witness's key")
            except WitnessError as exc:
                result.refused[wkey.name] = f"bad cosignature: {exc}"
                return None
            self.known_size[wkey.name] = size
            result.cosigned_by.append(wkey.name)
            return line
        result.refused[wkey.name] = "witness size changed twice during one request"
        return None

    def run(self, stop: threading.Event) -> None:
        """Collect whenever the log has grown, until `stop` is set."""
        while not stop.wait(self.coord.settings.witness_interval_s):
            try:
                with self.coord.session() as session:
                    size = self.coord.log.size(session)
                if size != self.last_size:
                    res = self.collect()
                    if res.refused:
                        logger.warning("checkpoint %d: witnesses refused or failed: %s", res.size, res.refused)
            except Exception:  # keep collecting; one bad round must not stop witnessing
                logger.exception("collecting witness cosignatures failed")


def start_collector(coord: Coordinator) -> tuple[threading.Thread, threading.Event] | None:
    if not coord.settings.witnesses:
        return None
    stop = threading.Event()
    thread = threading.Thread(target=CosignatureCollector(coord).run, args=(stop,), name="witness-collector", daemon=True)
    thread.start()
    return thread, stop
