"""`synthspace demo` end to end: the real command as a subprocess, then every claim of its
JSON summary checked independently (files and digests re-hashed, DSSE payloads decoded by hand,
the coordinator started again from the demo's home and every audit re-run as an outsider,
processes looked up in /proc, ports re-bound)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthspace.local_servers import CoordinatorProcess

DEMO_TIMEOUT = 1800  # generous: the --small run takes a few minutes on 2 cores


@dataclass
class DemoRun:
    workdir: Path
    summary: dict[str, Any]
    returncode: int
    stdout: str
    stderr: str


def run_demo(workdir: Path, summary_path: Path, *extra: str) -> DemoRun:
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSPACE_DATABASE_URL"}
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "demo", "--small", "--workdir", str(workdir),
         "--json-summary", str(summary_path), *extra],
        capture_output=True, text=True, timeout=DEMO_TIMEOUT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n{proc.stdout[-3000:]}"
    return DemoRun(workdir, json.loads(summary_path.read_text()), proc.returncode, proc.stdout, proc.stderr)


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:PORT any more. (Binding is no test: on a busy machine the
    kernel may hand the same ephemeral number to some other client socket meanwhile.)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return True


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment mentions `text` (the demo's workdir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if (text in cmdline or text in environ) and alive(int(entry.name)):
            found.append((int(entry.name), cmdline[:200]))
    return found


def decode_envelope(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The DSSE payload bytes and the Statement, decoded here (no synthspace code involved)."""
    env = json.loads(path.read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(env["payload"])
    return payload, json.loads(payload)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    base = tmp_path_factory.mktemp("demo")
    return run_demo(base / "work", base / "summary.json")


@pytest.fixture
def restarted(demo: DemoRun) -> Iterator[CoordinatorProcess]:
    """The demo's coordinator home served again, on a new free port (stopped after the test, so
    the second demo run below starts from a workdir nobody else is using)."""
    server = CoordinatorProcess(Path(demo.summary["coordinator_home"]), new_session=True)
    try:
        yield server.start(timeout=90)
    finally:
        server.stop(timeout=20)


pytestmark = pytest.mark.slow


def test_demo_prints_where_everything_is(demo: DemoRun) -> None:
    s = demo.summary
    assert s["small"] is True and s["kept_running"] is False
    assert s["web_catalog_url"] == s["coordinator_url"] + "/catalog"
    assert s["database_url"].startswith("sqlite") and Path(s["coordinator_home"], "coordinator.db").is_file()
    out = demo.stdout
    for claim in (s["web_catalog_url"], s["orgs"][0]["artifact_id"], s["orgs"][1]["artifact_id"],
                  s["federation"]["artifact_id"], "all 4 stopped"):  # fmt: skip
        assert claim in out, claim
    # Progress was shown per step, each with its time.
    assert len(s["steps"]) >= 15 and all(step["ok"] for step in s["steps"])
    assert "federated LoRA fine-tune" in demo.stderr and " s)" in demo.stderr
    assert [o["org"] for o in s["orgs"]] == ["kanagawa-legal", "osaka-support"]


def test_every_process_it_started_is_stopped(demo: DemoRun) -> None:
    s = demo.summary
    names = sorted(p["name"] for p in s["processes"])
    assert names == ["coordinator", "superlink", "supernode:kanagawa-legal", "supernode:osaka-support"]
    for p in s["processes"]:
        assert p["stopped"] and not alive(p["pid"]), p
    assert port_free(s["coordinator_port"])
    superlink = next(p for p in s["processes"] if p["name"] == "superlink")
    assert port_free(superlink["port"])
    with pytest.raises(httpx.HTTPError):
        httpx.get(s["coordinator_url"] + "/healthz", timeout=2)
    # Nothing else (ClientApps, SuperExec, uvicorn workers) outlived the demo either.
    assert processes_mentioning(s["workdir"]) == []


def test_published_files_match_their_signed_subjects(demo: DemoRun) -> None:
    import pyarrow.parquet as pq

    catalog_ids = {a["artifact_id"] for a in demo.summary["catalog"]}
    for org in demo.summary["orgs"]:
        payload, statement = decode_envelope(Path(org["envelope_path"]))
        assert hashlib.sha256(payload).hexdigest() == org["artifact_id"]
        subject = statement["subject"][0]
        assert sha256_file(Path(org["data_path"])) == subject["digest"]["sha256"] == org["subject_sha256"]
        table = pq.read_table(org["data_path"])
        assert table.num_rows == org["records"] == statement["predicate"]["record_count"] >= 1
        assert not [c for c in table.column_names if c.startswith("_")]  # node-private columns stay home
        assert statement["predicate"]["producer"]["org"] == org["org"]
        assert statement["predicate"]["persona_source"]["locale"] == "ja_JP"
        assert org["gates_passed"] and all(v != "FAIL" for v in org["gates"].values())
        assert org["artifact_id"] in catalog_ids
        # Record-level filtering: only kept records are published, none the gates dropped, and the
        # counts agree with the run's gate report; the usefulness gate ran and passed.
        report = json.loads(Path(org["run_dir"], "gate-report.json").read_text())
        assert report["passed"] and table.num_rows == report["kept"] <= org["generated"]
        assert not set(table.column("record_id").to_pylist()) & set(report["exclude_record_ids"])
        assert org["gate_dropped"] == report["dropped_by_reason"]
        assert org["gates"].get("usefulness") == "pass"
        # Two published records are shown, and they are rows of the published file.
        rows = [{k: v for k, v in r.items() if k != "record_id"} for r in table.to_pylist()]
        assert len(org["samples"]) == min(2, table.num_rows) and all(x in rows for x in org["samples"])
        shown = " ".join(json.dumps(org["samples"][0], ensure_ascii=False).split())
        assert shown in " ".join(demo.stderr.split())
    # Each org pulled the other's artifact: byte-identical data, same signed envelope.
    orgs = {o["org"]: o for o in demo.summary["orgs"]}
    pulls = demo.summary["pulls"]
    assert sorted((p["by"], p["publisher"]) for p in pulls) == [
        ("kanagawa-legal", "osaka-support"), ("osaka-support", "kanagawa-legal")
    ]  # fmt: skip
    for p in pulls:
        theirs = orgs[p["publisher"]]
        assert p["artifact_id"] == theirs["artifact_id"]
        assert sha256_file(Path(p["data_path"])) == theirs["subject_sha256"]
        assert Path(p["bundle_dir"], "envelope.json").read_bytes() == Path(theirs["envelope_path"]).read_bytes()
        assert p["audit_ok"] and set(p["checks"].values()) <= {"pass", "skip"}


def test_adapter_lineage_names_both_orgs_and_their_data(demo: DemoRun) -> None:
    f = demo.summary["federation"]
    assert f["status"] == "completed" and f["rounds"] == 2
    payload, statement = decode_envelope(Path(f["envelope_path"]))
    assert hashlib.sha256(payload).hexdigest() == f["artifact_id"]
    assert sha256_file(Path(f["adapter_path"])) == statement["subject"][0]["digest"]["sha256"]
    pred = statement["predicate"]
    assert pred["kind"] == "model-adapter"
    assert sorted(pred["training"]["participants"]) == ["kanagawa-legal", "osaka-support"]
    assert sorted(pred["training"]["training_artifacts"]) == ["kanagawa-legal", "osaka-support"]
    org_subjects = {o["subject_sha256"] for o in demo.summary["orgs"]}
    for digests in pred["training"]["training_artifacts"].values():
        assert set(digests) <= org_subjects and digests
    assert sorted(p["artifact_id"] for p in pred["parents"]) == sorted(o["artifact_id"] for o in demo.summary["orgs"])
    assert f["audit_ok"] and all(f["parent_audits"].values()) and len(f["parent_audits"]) == 2


def wilson(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval, written out here (not synthspace's)."""
    z = 1.959963984540054
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_evaluation_of_the_adapter_is_signed_and_its_numbers_add_up(demo: DemoRun) -> None:
    """kanagawa-legal scored the federated adapter (and the base model) on a fixed subset of the
    shipped en_statutes benchmark and published a signed `evaluation` whose one parent is that
    adapter; every number in the summary is recounted from the published per-item results."""
    from synthspace.node.evaluation.benchmark import shipped_benchmark

    e, f = demo.summary["evaluation"], demo.summary["federation"]
    assert e["org"] == "kanagawa-legal" and e["adapter_artifact_id"] == f["artifact_id"]
    payload, statement = decode_envelope(Path(e["envelope_path"]))
    assert hashlib.sha256(payload).hexdigest() == e["artifact_id"]
    results_file = Path(e["out_dir"], "evaluation.json")
    assert sha256_file(results_file) == statement["subject"][0]["digest"]["sha256"]
    pred = statement["predicate"]
    assert pred["kind"] == "evaluation" and pred["producer"]["org"] == "kanagawa-legal"
    assert [(p["artifact_id"], p["role"]) for p in pred["parents"]] == [(f["artifact_id"], "evaluated-model")]
    # --small scores the shipped benchmark's first 12 lines, copied verbatim; the signed digest is theirs.
    shipped = shipped_benchmark("en_statutes").read_text(encoding="utf-8").splitlines(keepends=True)
    scored = Path(e["out_dir"]).parent / e["benchmark"]
    assert scored.read_text(encoding="utf-8") == "".join(shipped[:12])
    assert pred["evaluation"]["benchmark_digest"] == e["benchmark_digest"] == "sha256:" + sha256_file(scored)
    assert e["items"] == pred["evaluation"]["items"] == 12
    # The per-item results, recounted: accuracies, Wilson intervals and the paired delta.
    rows = json.loads(results_file.read_text(encoding="utf-8"))["results"]
    ids = [json.loads(line)["id"] for line in shipped[:12]]
    correct = {}
    for label in ("base", "adapter"):
        mine = [r for r in rows if r["model"] == label]
        assert [r["id"] for r in mine] == ids
        assert all(len(r["scores"]) == 4 and r["predicted"] in json.loads(shipped[i])["options"] for i, r in enumerate(mine))
        correct[label] = [r["correct"] for r in mine]
    for label, acc, ci in (("base", e["base_accuracy"], e["base_ci95"]), ("adapter", e["adapter_accuracy"], e["adapter_ci95"])):
        k = sum(correct[label])
        assert 0.0 <= ci[0] <= acc <= ci[1] <= 1.0
        assert acc == pytest.approx(k / 12) and ci == pytest.approx(list(wilson(k, 12)))
        assert pred["evaluation"]["metrics"][label]["accuracy"] == pytest.approx(acc)
    diffs = [int(b) - int(a) for a, b in zip(correct["base"], correct["adapter"], strict=True)]
    assert e["delta"] == pytest.approx(sum(diffs) / 12) == pytest.approx(e["adapter_accuracy"] - e["base_accuracy"])
    assert -1.0 <= e["delta_ci95"][0] <= e["delta"] <= e["delta_ci95"][1] <= 1.0
    assert e["audit_ok"] is True
    # The numbers were printed, with no claim of an improvement.
    out = " ".join((demo.stdout + demo.stderr).split())
    assert e["artifact_id"] in demo.stdout
    assert f"base {100 * e['base_accuracy']:.1f}%" in out and f"adapter {100 * e['adapter_accuracy']:.1f}%" in out
    assert f"delta {100 * e['delta']:+.1f} points" in out and "claims no improvement" in out


def test_audits_hold_when_rerun_independently(demo: DemoRun, restarted: CoordinatorProcess, tmp_path: Path) -> None:
    """A fresh auditor (its own state, the log key pinned from the coordinator's key file, requests
    signed with an enrolled node's key because catalog reads need one) audits every artifact the
    demo claims verified, against the coordinator started again from the demo's home."""
    from synthspace import keys
    from synthspace.checkpoint import open_checkpoint, verifier_for
    from synthspace.node.cli_support import open_auditor

    s = demo.summary
    config = json.loads(Path(s["coordinator_home"], "config.json").read_text())
    log_key = keys.load_private_key(Path(s["coordinator_home"], "keys", "log.pem"))
    verifier = verifier_for(config["log_origin"], log_key)
    assert verifier.to_string() == s["log_verifier_key"]
    # The checkpoint the demo saved is signed by the log key and covers what it claims.
    saved = open_checkpoint(Path(s["checkpoint_path"]).read_text(), verifier)
    assert saved.size == s["log_size"] >= 9  # 3 orgs' keys + 2 datasets + adapter + evaluation, at least

    auditor = open_auditor(
        coordinator=restarted.url, home=Path(s["orgs"][1]["home"]), state=tmp_path / "auditor",
        verifier_key=verifier.to_string(), trust_on_first_use=False,
    )  # fmt: skip
    claims = {o["artifact_id"]: True for o in s["orgs"]}
    claims[s["federation"]["artifact_id"]] = s["federation"]["audit_ok"]
    claims[s["evaluation"]["artifact_id"]] = s["evaluation"]["audit_ok"]
    for aid, claimed in claims.items():
        report = auditor.audit_artifact(aid, lineage=True)
        assert report.ok is claimed is True, report.to_dict()
        assert report.checkpoint_size is not None and report.checkpoint_size >= s["log_size"]
    adapter = auditor.audit_artifact(s["federation"]["artifact_id"], lineage=True)
    datasets = {o["artifact_id"] for o in s["orgs"]}
    assert sorted(p.artifact_id or "" for p in adapter.parents) == sorted(datasets)
    assert all(p.ok for p in adapter.parents)
    # The evaluation is in the catalog, and its lineage walk goes through the adapter it scored.
    evaluation = auditor.audit_artifact(s["evaluation"]["artifact_id"], lineage=True)
    assert evaluation.ok and evaluation.statement is not None
    assert evaluation.statement.predicate.kind == "evaluation"
    assert [p.artifact_id for p in evaluation.parents] == [s["federation"]["artifact_id"]]
    assert all(p.ok for p in evaluation.parents)
    for p in s["pulls"]:
        report = auditor.audit_bundle(Path(p["bundle_dir"]), lineage=False)
        assert report.ok is p["audit_ok"] is True, report.to_dict()
    # A tampered copy of a pulled bundle must not verify: the audit is not a rubber stamp.
    import shutil

    bad = tmp_path / "tampered"
    shutil.copytree(s["pulls"][0]["bundle_dir"], bad)
    data = Path(s["pulls"][0]["data_path"]).name
    (bad / data).write_bytes((bad / data).read_bytes() + b"\0")
    assert not auditor.audit_bundle(bad, lineage=False).ok


def test_second_run_keep_workdir_keep_running_then_stop(demo: DemoRun, tmp_path: Path) -> None:
    """The same workdir again with --keep-workdir (its homes and finished runs are reused, so
    generation resumes with nothing left to do and the datasets are the same artifacts), left
    running: the web catalog serves both datasets and both adapters; `demo --stop` then ends
    every process. (A run without --keep-workdir wipes the workdir: the last test shows it.)"""
    first = demo.summary
    second = run_demo(demo.workdir, tmp_path / "summary2.json", "--keep-workdir", "--keep-running")
    s = second.summary
    try:
        assert s["workdir"] == first["workdir"] and s["kept_running"]
        assert s["coordinator_home"] == first["coordinator_home"]
        assert [o["artifact_id"] for o in s["orgs"]] == [o["artifact_id"] for o in first["orgs"]]
        assert s["federation"]["artifact_id"] != first["federation"]["artifact_id"]  # a new run, a new adapter
        for p in s["processes"]:
            assert alive(p["pid"]) and not p["stopped"], p
        assert f"synthspace demo --stop --workdir {s['workdir']}" in second.stdout
        page = httpx.get(s["web_catalog_url"], timeout=10)
        assert page.status_code == 200
        for aid in [o["artifact_id"] for o in s["orgs"]] + [s["federation"]["artifact_id"], first["federation"]["artifact_id"]]:
            assert aid in page.text
        for o in s["orgs"]:
            detail = httpx.get(f"{s['web_catalog_url']}/artifacts/{o['artifact_id']}", timeout=10)
            assert detail.status_code == 200 and o["org"] in detail.text
    finally:
        stop = subprocess.run(
            [sys.executable, "-m", "synthspace.cli.main", "demo", "--stop", "--workdir", s["workdir"]],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert stop.returncode == 0, stop.stderr
    assert "stopped coordinator" in stop.stdout
    for p in s["processes"]:
        assert not alive(p["pid"]), p
    assert port_free(s["coordinator_port"])
    assert processes_mentioning(s["workdir"]) == []


def test_a_rerun_wipes_the_workdir_and_ctrl_c_stops_everything_it_started(demo: DemoRun) -> None:
    """The demo's workdir once more, without --keep-workdir: it is wiped (new coordinator keys,
    the earlier runs gone). SIGINT (what Ctrl-C sends) in the middle of generation: exit 130,
    nothing left running. Last in this module: it leaves the workdir half-built."""
    workdir = demo.workdir
    first = demo.summary
    first_log_key = Path(first["coordinator_home"], "keys", "log.pem").read_bytes()
    old_pids = {e["pid"] for e in json.loads((workdir / "processes.json").read_text())}
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSPACE_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthspace.cli.main", "demo", "--small", "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    book = workdir / "processes.json"
    try:
        deadline = time.monotonic() + 300
        def new_coordinator() -> bool:  # the book of the earlier runs is there until the wipe
            try:
                entries = json.loads(book.read_text())
            except (OSError, ValueError):
                return False
            return any(e["name"] == "coordinator" and e["pid"] not in old_pids and not e["stopped"] for e in entries)

        while not new_coordinator():
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the demo never started its coordinator"
            time.sleep(0.2)
        while not (workdir / "nodes" / "kanagawa-legal" / "work" / "run").is_dir():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        # Wiped, not reused: a new log key, and the first run's published data is gone.
        assert Path(first["coordinator_home"], "keys", "log.pem").read_bytes() != first_log_key
        # (The new run is still generating its first org's records, so nothing is published yet.)
        assert not any(Path(o["data_path"]).exists() for o in first["orgs"])
        coordinator = json.loads(book.read_text())[0]
        assert coordinator["name"] == "coordinator" and alive(coordinator["pid"]) and coordinator["pid"] not in old_pids
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()[-3000:]
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    assert not alive(coordinator["pid"]) and port_free(coordinator["port"])
    assert all(e["stopped"] for e in json.loads(book.read_text()))
    assert processes_mentioning(str(workdir)) == []
