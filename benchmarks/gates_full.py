"""Benchmark: the full gate run on a 138,000-record synthetic run against 450 seeds.

Builds a run directory (manifest, 14 Parquet shards, JSONL seeds, 500 personas) with
~240-character mixed Japanese/English records, plants seed spans, PII, canaries and
duplicates, then times `run_gates` end to end (reading shards, every gate including the
per-record usefulness gate with SudachiPy and wordfreq, record-level filtering, writing the
report; the LLM judge is not part of it). The reference is the straightforward way to do the same checks: per-record Python
n-gram sets against a seed n-gram set, difflib longest-match against every seed for records
sharing an n-gram, per-record regex scans, and datasketch MinHash + MinHashLSH for near
duplicates. By default it runs on a 10% sample and is scaled to the full size (stated in the
output); `--reference-sample 1` runs it on everything.

CPU figures are this process (all its threads) plus the gates' forked worker processes;
``SYNTHSPACE_GATE_WORKERS=1`` runs every gate in one thread for a serial comparison.

    python benchmarks/gates_full.py [--records 138000] [--seeds 450] [--reference-sample 0.1]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

JA_PLACE = ["東京都", "大阪府", "北海道", "福岡県", "愛知県", "宮城県", "京都府", "広島県"]
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"


_KANJI = "契約解除損害賠償請求権利義務債務履行期限遅延利息保証金額返還賃貸借建物土地所有者相続財産分与離婚親権養育費労働時間残業代解雇予告手当就業規則会社株主取締役責任消費者販売取引広告表示通知書面証拠裁判所調停和解弁護士費用税務申告控除給付年金保険医療事故過失慰謝料交通"
_KATA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
_SYL = [
    "ka",
    "ri",
    "to",
    "ne",
    "sa",
    "mo",
    "lu",
    "ven",
    "tor",
    "al",
    "ex",
    "pro",
    "con",
    "dis",
    "ment",
    "ing",
    "er",
    "ly",
    "ate",
    "ion",
]


def _vocab(rng: random.Random) -> dict[str, list[str]]:
    ja = sorted(
        {"".join(rng.choice(_KANJI) for _ in range(rng.randint(2, 4))) for _ in range(4000)}
    )
    kata = sorted(
        {"".join(rng.choice(_KATA) for _ in range(rng.randint(3, 6))) for _ in range(800)}
    )
    en = sorted({"".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4))) for _ in range(4000)})
    return {"ja": ja, "kata": kata, "en": en}


_V = _vocab(random.Random(99))
_PART = ["は", "が", "を", "に", "で", "と", "の", "について", "に関して", "による", "として"]
_END = [
    "です。",
    "ます。",
    "でした。",
    "となります。",
    "と考えられます。",
    "が必要です。",
    "できます。",
]


def ja_sentence(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(4, 8)):
        words.append(rng.choice(_V["ja"]) if rng.random() < 0.8 else rng.choice(_V["kata"]))
        words.append(rng.choice(_PART))
    if rng.random() < 0.3:
        words.append(f"第{rng.randint(1, 900)}条")
    if rng.random() < 0.2:
        words.append(f"{rng.randint(1, 999)}万円")
    return "".join(words[:-1]) + rng.choice(_END)


def en_sentence(rng: random.Random) -> str:
    words = [rng.choice(_V["en"]) for _ in range(rng.randint(6, 12))]
    if rng.random() < 0.3:
        words.append(f"(Article {rng.randint(1, 300)})")
    if rng.random() < 0.2:
        words.append(f"${rng.randint(1, 99)},{rng.randint(100, 999)}")
    return " ".join(words).capitalize() + ". "


def record_text(rng: random.Random, target: int = 240) -> str:
    english = rng.random() < 0.3
    out = ""
    while len(out) < target - 20:
        out += en_sentence(rng) if english else ja_sentence(rng)
        if not english and rng.random() < 0.15:
            out += en_sentence(rng)
    return out[: target + rng.randint(-15, 15)]


def make_seeds(n: int, rng: random.Random) -> list[dict[str, str]]:
    seeds = []
    for _ in range(n):
        secret = "".join(rng.choice(KANA) for _ in range(10))
        seeds.append(
            {
                "question": ja_sentence(rng) + f"相談者{secret}はどうすればよいですか。",
                "answer": ja_sentence(rng) + ja_sentence(rng) + ja_sentence(rng),
            }
        )
    return seeds


def build(base: Path, n_records: int, n_seeds: int) -> tuple[Path, list[dict[str, str]], list[str]]:
    rng = random.Random(2026)
    seeds = make_seeds(n_seeds, rng)
    seeds[0]["answer"] += (
        "連絡先はkeiko.sato@example-law.co.jp、電話03-5412-7788です。SYNTHSPACE-CANARY-9c2e4b71aa"
    )
    answers = [record_text(rng) for _ in range(n_records)]
    for i in rng.sample(range(n_records), n_records // 500):  # 0.2% carry a 60-char seed span
        s = seeds[rng.randrange(n_seeds)]["answer"]
        st = rng.randrange(0, len(s) - 61)
        answers[i] = answers[i][:90] + s[st : st + 60] + answers[i][150:]
    for i in rng.sample(range(n_records), n_records // 1000):  # 0.1% PII
        answers[i] = (
            answers[i][:100]
            + f"携帯090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}まで"
            + answers[i][100:]
        )
    for i in rng.sample(range(1, n_records), n_records // 100):  # 1% exact duplicates
        answers[i] = answers[i - 1]
    personas = pd.DataFrame(
        {
            "persona_id": [f"p{i:04d}" for i in range(500)],
            "prefecture": [rng.choice(JA_PLACE) for _ in range(500)],
            "sex": [rng.choice(["男性", "女性"]) for _ in range(500)],
            "age": [rng.randint(18, 90) for _ in range(500)],
            "narrative": ["説明" for _ in range(500)],
        }
    )
    run = base / "run"
    (run / "shards").mkdir(parents=True)
    seeds_path = base / "seeds.jsonl"
    seeds_path.write_text(
        "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in seeds), encoding="utf-8"
    )
    personas.to_parquet(base / "personas.parquet")
    df = pd.DataFrame(
        {
            "record_id": [f"r{i:07d}" for i in range(n_records)],
            "answer": answers,
            "persona_id": [f"p{rng.randrange(500):04d}" for _ in range(n_records)],
            "_seed_index": [rng.randrange(n_seeds) for _ in range(n_records)],
        }
    )
    for k, start in enumerate(range(0, n_records, 10_000)):
        df.iloc[start : start + 10_000].to_parquet(
            run / "shards" / f"part-{k:05d}.parquet", index=False
        )
    (run / "manifest.json").write_text(
        _manifest(seeds_path, base / "personas.parquet", n_records, n_seeds).model_dump_json(),
        encoding="utf-8",
    )
    return run, seeds, answers


def _manifest(seeds_path: Path, personas_path: Path, n_records: int, n_seeds: int) -> Any:
    """The run manifest generation would write (typed: the gates read it with load_manifest)."""
    from datetime import UTC, datetime

    from synthspace.lineage import Generator, PersonaSource, SeedCommitment
    from synthspace.node.generate.manifest import RecipeSummary, RunManifest
    from synthspace.node.recipes.models import Prompt, SeedField

    now = datetime.now(UTC)
    return RunManifest(
        status="complete",
        recipe=RecipeSummary(
            task="ja_legal_qa",
            license="CC-BY-4.0",
            locale="ja_JP",
            output_fields=["answer"],
            output_schema={
                "type": "object",
                "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 2000}},
                "required": ["answer"],
            },
            seed_fields=[SeedField(name="question"), SeedField(name="answer")],
            prompt=Prompt(
                system="あなたは架空の法律に詳しい法律相談員です。",
                template="次の条文を読んでください。{{ seed.question }}\n"
                "例とは異なる新しい質問を一つ作り、条文に基づいて回答してください。",
            ),
        ),
        recipe_digest="sha256:" + "0" * 64,
        generator=Generator(backend="transformers", model_id="benchmark"),
        persona_source=PersonaSource(kind="spec", locale="ja_JP", count=500),
        personas_path=str(personas_path),
        seed_commitment=SeedCommitment(root="ab" * 32, count=n_seeds),
        seeds_path=str(seeds_path),
        requested=n_records,
        completed=n_records,
        started=now,
        updated=now,
    )


def reference(answers: list[str], seeds: list[dict[str, str]]) -> dict[str, float]:
    """Straightforward per-record implementation of the same checks; CPU seconds per stage."""
    import unicodedata

    from datasketch import MinHash, MinHashLSH

    from synthspace.node.privacy.pii import _DETECTORS

    def norm(s: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s).casefold())

    times: dict[str, float] = {}
    t = time.process_time()
    seed_texts = [norm(" ".join(s.values())) for s in seeds]
    seed_grams: dict[str, set[int]] = {}
    for k, st in enumerate(seed_texts):
        for i in range(len(st) - 12):
            seed_grams.setdefault(st[i : i + 13], set()).add(k)
    flagged = 0
    for a in answers:
        x = norm(a)
        grams = [x[i : i + 13] for i in range(len(x) - 12)]
        sharing: set[int] = set()
        for g in grams:
            sharing |= seed_grams.get(g, set())
        if sharing:  # exact LCS only against the seeds that share an n-gram
            best = max(
                difflib.SequenceMatcher(None, x, seed_texts[k], autojunk=False)
                .find_longest_match(0, len(x), 0, len(seed_texts[k]))
                .size
                for k in sharing
            )
            flagged += best >= 50
    times["leakage"] = time.process_time() - t
    t = time.process_time()
    n_pii = 0
    for a in answers:
        x = unicodedata.normalize("NFKC", a)
        for _, _, pattern, validate in _DETECTORS:
            n_pii += sum(1 for m in pattern.finditer(x) if validate(m))
    times["pii"] = time.process_time() - t
    t = time.process_time()
    lsh = MinHashLSH(threshold=0.8, num_perm=64)
    for i, a in enumerate(answers):
        x = norm(a)
        m = MinHash(num_perm=64)
        m.update_batch([x[j : j + 5].encode("utf-8") for j in range(len(x) - 4)])
        lsh.insert(str(i), m)
    times["near_duplicates"] = time.process_time() - t
    times["total"] = sum(times.values())
    return times


def _children_cpu() -> float:
    """CPU of finished child processes (the gates' forked usefulness workers)."""
    t = os.times()
    return t.children_user + t.children_system


def _cpu() -> float:
    """This process (all threads) plus its finished children: what the gates cost in CPU."""
    return time.process_time() + _children_cpu()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=138_000)
    ap.add_argument("--seeds", type=int, default=450)
    ap.add_argument(
        "--reference-sample", type=float, default=0.1, help="share of records the reference runs on"
    )
    ap.add_argument(
        "--repeat", type=int, default=2, help="timed runs of run_gates (best is reported)"
    )
    args = ap.parse_args(argv)

    from synthspace.node.gates import run_gates

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run, seeds, answers = build(Path(tmp), args.records, args.seeds)
        print(
            f"built run: {args.records} records, {args.seeds} seeds in {time.perf_counter() - t:.1f}s",
            file=sys.stderr,
        )
        chars = sum(map(len, answers)) / len(answers)
        best_cpu = best_wall = float("inf")
        report = None
        stages: dict[str, float] = {}
        stages_wall: dict[str, float] = {}
        worker_cpu = 0.0
        for _ in range(args.repeat):
            marks: list[tuple[str, float, float]] = []
            w0, c0, k0 = time.perf_counter(), _cpu(), _children_cpu()
            report = run_gates(
                run,
                progress=lambda msg, marks=marks: marks.append((msg, _cpu(), time.perf_counter())),
            )
            wall, cpu = time.perf_counter() - w0, _cpu() - c0
            best_wall = min(best_wall, wall)
            if cpu < best_cpu:
                best_cpu = cpu
                worker_cpu = _children_cpu() - k0
                ends = [*marks[1:], ("", c0 + cpu, w0 + wall)]
                stages = {m[0]: round(e[1] - m[1], 3) for m, e in zip(marks, ends, strict=True)}
                stages_wall = {
                    m[0]: round(e[2] - m[2], 3) for m, e in zip(marks, ends, strict=True)
                }
        assert report is not None
        print(f"run_gates: cpu {best_cpu:.2f}s wall {best_wall:.2f}s {stages}", file=sys.stderr)
        load_after_gates = os.getloadavg()[0]
        n_ref = max(1, int(len(answers) * args.reference_sample))
        w0 = time.perf_counter()
        ref = reference(answers[:n_ref], seeds)
        ref_wall = time.perf_counter() - w0
        scale = len(answers) / n_ref
        ref_full = {k: v * scale for k, v in ref.items()}
        out = {
            "records": len(answers),
            "seeds": len(seeds),
            "mean_chars": round(chars, 1),
            "gates_cpu_s": round(best_cpu, 2),
            "gates_wall_s": round(best_wall, 2),
            "records_per_cpu_s": round(len(answers) / best_cpu),
            "records_per_wall_s": round(len(answers) / best_wall),
            "load_average_1m_after_gates": load_after_gates,
            "load_average_1m": os.getloadavg()[0],
            "gate_worker_processes_cpu_s": round(worker_cpu, 2),
            "stages_cpu_s": stages,
            "stages_wall_s": stages_wall,
            "passed": report.passed,
            "failed_blocking": report.failed_blocking,
            "leak_failing": report.gate("seed_leakage").metrics["failing_records"],
            "pii_records": report.gate("pii").metrics["records_with_pii"],
            "replay_records": report.gate("pii_replay").metrics["records_with_replay"],
            "exact_dups": report.gate("near_duplicates").metrics["exact_duplicates_removed"],
            "kept": report.kept,
            "dropped_by_reason_top": dict(
                sorted(report.dropped_by_reason.items(), key=lambda kv: -kv[1])[:8]
            ),
            "reference_sample": n_ref,
            "reference_wall_s_on_sample": round(ref_wall, 1),
            "reference_cpu_s_scaled": {k: round(v, 1) for k, v in ref_full.items()},
            "speedup_cpu": round(ref_full["total"] / best_cpu, 1),
            "speedup_by_stage_cpu": {
                "leakage": round(ref_full["leakage"] / stages.get("seed leakage", 1e-9), 1),
                "pii": round(ref_full["pii"] / stages.get("PII detection", 1e-9), 1),
                "near_duplicates": round(
                    ref_full["near_duplicates"] / stages.get("duplicates", 1e-9), 1
                ),
            },
        }
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
