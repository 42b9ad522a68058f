"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1 for node tests.

It answers with records for the en_support recipe: varied, made-up dialogues (so the
near-duplicate and leakage gates pass), or, in `leak` mode, dialogues that copy the seed's
customer message out of the prompt verbatim (so the seed-leakage gate must fail).
"""

from __future__ import annotations

import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = (
    "kettle toaster blender lid handle switch cable plug filter base light timer button screen "
    "warranty parcel courier refund invoice voucher password login account update firmware "
    "descaling limescale spout steam cord fuse socket carton label colour model batch spare "
    "strap hinge dial knob sensor alarm beep hum rattle crack scratch dent leak drip smell"
).split()
CATEGORIES = ["billing", "shipping", "account", "technical", "returns"]


class FakeLLM:
    def __init__(self, leak: bool = False) -> None:
        self.leak = leak
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def record(self, prompt: str) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
            n = self.requests
        rng = random.Random(n * 7919)
        if self.leak:
            m = re.search(r"Customer: (.+)", prompt)
            customer = m.group(1).strip() if m else "no seed found"
        else:
            customer = f"Hello, my {' '.join(rng.sample(WORDS, 6))} case {n} needs help."
        agent = f"Thanks for writing; we will {' '.join(rng.sample(WORDS, 7))} for ticket {n}."
        return {
            "dialogue": [customer[:240], agent[:240]],
            "category": rng.choice(CATEGORIES),
            "resolved": bool(n % 2),
            "satisfaction": 1 + n % 5,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                content = json.dumps(fake.record(prompt))
                answer = {
                    "id": "cmpl-fake",
                    "object": "chat.completion",
                    "model": body.get("model", "fake"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4},
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
