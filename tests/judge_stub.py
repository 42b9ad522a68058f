"""A stub OpenAI-compatible LLM judge on 127.0.0.1 for the judge tests (quality gate and
`synthspace eval`'s judged items): POST .../chat/completions answers `verdict(request body)`
as the assistant's content and records every request body in `JudgeStub.seen`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Verdict = Callable[[dict[str, Any]], str]


@dataclass
class JudgeStub:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def judge_stub(verdict: Verdict) -> Iterator[JudgeStub]:
    """Serve `verdict` (request body -> assistant content) until the block ends."""
    stub = JudgeStub(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            stub.seen.append(body)
            data = json.dumps(
                {
                    "id": "j",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": verdict(body)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


def user_text(body: dict[str, Any]) -> str:
    """The last (user) message of a chat request."""
    return str(body["messages"][-1]["content"])


def judged_record(body: dict[str, Any]) -> dict[str, Any]:
    """The record a judge prompt carries (the JSON between 'Record:' and 'Scores as JSON:')."""
    text = user_text(body)
    return dict(json.loads(text.split("Record:\n", 1)[1].rsplit("\n\nScores as JSON:", 1)[0]))
