"""LLM-as-judge through the openai backend against a real stub server on 127.0.0.1: rubric
scores drop records below a criterion's minimum, unreadable verdicts drop the record, the
judge model lands in the gate result, per-record scores in the node-private detail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from gates_helpers import RunFactory
from test_filtering import RECIPE, good_en

from synthspace.node.gates import run_gates


class _Judge(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        _Judge.seen.append(body)
        user = body["messages"][-1]["content"]
        if "UNREADABLE" in user:
            content = "I think it is fine"
        else:
            bad = "boring" in user
            content = json.dumps({"helpfulness": 1 if bad else 5, "fluency": 4})
        data = json.dumps(
            {
                "id": "j",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
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


@pytest.fixture()
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Judge.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_judge_drops_low_scores_and_records_the_model(make_run: RunFactory, judge_url: str) -> None:
    records = good_en()[:30]
    records[3] = {
        **records[3],
        "dialogue": ["This is a boring reply about nothing.", "Yes, it is boring."],
    }
    records[7] = {**records[7], "dialogue": ["UNREADABLE verdict please.", "Sure thing."]}
    records[11] = {**records[11], "dialogue": ["{{ x }}", "{{ y }}"]}  # dropped before the judge
    gates = {
        "judge": {
            "enabled": True,
            "backend": "openai",
            "model": "stub-judge",
            "base_url": judge_url,
            "criteria": [
                {
                    "name": "helpfulness",
                    "description": "5: solves the issue; 1: useless",
                    "min_score": 3,
                },
                {"name": "fluency", "description": "5: natural English; 1: broken", "min_score": 2},
            ],
        }
    }
    run = make_run(records, schema=RECIPE.output_json_schema(), locale="en_US", gates=gates)
    report = run_gates(run)
    judge = report.gate("judge")
    assert (
        judge.metrics["judged_records"] == 29 and len(_Judge.seen) == 29
    )  # not the placeholder one
    assert (
        judge.metrics["judge_model_id"] == "stub-judge"
        and judge.metrics["judge_backend"] == "openai"
    )
    assert report.dropped_positions["judge:helpfulness"] == [3]
    assert report.dropped_positions["judge:unreadable"] == [7]
    assert report.kept == 27 and report.passed
    schema = _Judge.seen[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["helpfulness", "fluency"]
    detail = json.loads((run / "private" / "gate-detail.json").read_text(encoding="utf-8"))
    scores = {d["position"]: d["scores"] for d in detail["judge"]}
    assert scores[3] == {"helpfulness": 1, "fluency": 4} and 7 not in scores and len(scores) == 28
    assert "boring" not in json.dumps(report.model_dump(mode="json"))


def test_an_enabled_judge_needs_a_rubric() -> None:
    from synthspace.errors import ConfigError
    from synthspace.node.gates import gates_config_from_mapping

    with pytest.raises(ConfigError, match="at least one criterion"):
        gates_config_from_mapping({"judge": {"enabled": True}})
