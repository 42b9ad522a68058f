"""The quality gates of one run: duplicates, schema validity, statistics, persona coverage,
per-record usefulness and run-level diversity.

Duplicates, schema-invalid and unusable records are blamed (dropped when
`filtering.drop_records`); statistics, coverage and diversity judge the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from synthspace.node.gates.context import LIST_CAP, GateRun
from synthspace.node.quality.coverage import persona_coverage
from synthspace.node.quality.grounding import build_checks
from synthspace.node.quality.judge import judge_records
from synthspace.node.quality.near_duplicates import exact_duplicates, near_duplicates
from synthspace.node.quality.schema import schema_check
from synthspace.node.quality.stats import (
    compression_ratio,
    distinct_n,
    length_stats,
    sample_indices,
)
from synthspace.node.quality.usefulness import FaithfulnessChecker, UsefulnessChecker
from synthspace.node.workers import ForkedRanges, can_fork, worker_count

# Below this many records per worker, forking costs more than it saves.
_USEFULNESS_MIN_PER_WORKER = 4000


def duplicates(run: GateRun) -> None:
    c = run.cfg.near_duplicates
    run.progress("duplicates")
    dup = exact_duplicates(run.match_texts)
    dpos = np.flatnonzero(dup)
    run.blame(dpos.tolist(), "duplicate")  # later copies of an exact duplicate: always dropped
    uniq = np.flatnonzero(~dup)
    res = near_duplicates(
        [run.match_texts[i] for i in uniq],
        c.jaccard_threshold,
        c.num_perm,
        c.shingle_chars,
        c.shingle_sample,
    )
    redundant = uniq[res.redundant]
    rate = len(redundant) / len(uniq) if len(uniq) else 0.0
    if run.drop:
        run.blame(redundant.tolist(), "near_duplicate")
    metrics = {
        "records": run.n,
        "exact_duplicates_removed": len(dpos),
        "unique_records": len(uniq),
        "near_duplicate_records": len(redundant),
        "near_duplicate_rate": round(rate, 6),
        "clusters": res.clusters,
        "largest_cluster": res.largest_cluster,
        "lsh_bands": res.bands,
        "lsh_rows": res.rows,
        "positions": redundant[:LIST_CAP].tolist(),
    }
    run.add(
        "near_duplicates",
        c.blocking,
        run.drop_ok(len(redundant) + len(dpos)) if run.drop else rate <= c.max_rate,
        metrics,
        {
            "jaccard_threshold": c.jaccard_threshold,
            "max_rate": c.max_rate,
            "num_perm": c.num_perm,
            "shingle_chars": c.shingle_chars,
            "shingle_sample": c.shingle_sample,
        },
    )


def schema(run: GateRun) -> None:
    c = run.cfg.schema_validity
    run.progress("schema validity")
    m, valid = schema_check(run.data.records, run.data.schema)
    m["rate"] = round(m["rate"], 6)
    if run.drop:
        m["dropped_records"] = run.blame(np.flatnonzero(~valid).tolist(), "schema")
    run.add(
        "schema_validity",
        c.blocking,
        (run.drop_ok(run.n - m["valid"]) if run.drop else m["rate"] >= c.min_valid_rate)
        and run.n > 0,
        m,
        {"min_valid_rate": c.min_valid_rate},
    )


def quality(run: GateRun) -> None:
    c = run.cfg.quality
    run.progress("quality statistics")
    idx = sample_indices(run.n, c.sample_size)
    sample = [run.pii_texts[i] for i in idx]
    dn = distinct_n(sample)
    cr = compression_ratio(sample)
    lengths = np.fromiter((len(t) for t in run.pii_texts), dtype=np.int64, count=run.n)
    metrics = {
        "records": run.n,
        "sample_size": len(sample),
        "distinct_1": round(dn["distinct_1"], 6),
        "distinct_2": round(dn["distinct_2"], 6),
        "cjk_record_share": round(dn["cjk_share"], 4),
        "compression_ratio": cr,
        "length_chars": length_stats(lengths),
    }
    ok = run.n >= c.min_records
    if c.min_distinct_2 is not None and dn["distinct_2"] < c.min_distinct_2:
        ok = False
    if c.max_compression_ratio is not None and cr > c.max_compression_ratio:
        ok = False
    run.add(
        "quality",
        c.blocking,
        ok,
        metrics,
        {
            "min_records": c.min_records,
            "min_distinct_2": c.min_distinct_2,
            "max_compression_ratio": c.max_compression_ratio,
        },
    )


def coverage(run: GateRun) -> None:
    c = run.cfg.persona_coverage
    if run.data.personas is None:
        run.skipped["persona_coverage"] = "the run names no readable persona file"
        return
    run.progress("persona coverage")
    m = persona_coverage(run.data.records, run.data.personas, c.max_values)
    ok = True
    for attr in m["attributes"].values():
        if attr["value_coverage"] < c.min_value_coverage:
            ok = False
        if c.max_total_variation is not None and attr["total_variation"] > c.max_total_variation:
            ok = False
    run.add(
        "persona_coverage",
        c.blocking,
        ok,
        m,
        {
            "min_value_coverage": c.min_value_coverage,
            "max_total_variation": c.max_total_variation,
        },
    )


# Per record: (reasons, records answer grounding could not judge while checking it).
_Verdicts = Callable[[int, int], list[tuple[list[str], int]]]


def _usefulness_work(run: GateRun) -> tuple[_Verdicts, dict[str, int]]:
    """(verdicts of records start..stop, rule counts) for the run's recipe."""
    c = run.cfg.usefulness
    data = run.data
    checker = UsefulnessChecker(
        c,
        data.locale,
        data.text_fields,
        data.list_fields,
        data.prompt_texts(),
        data.prose_fields,
        [t for fields in run.seed_fields for t in fields],
    )
    checks = build_checks(c.validators, data.seeds)
    faithful = FaithfulnessChecker(c, data.locale, data.prompt_texts(), data.seeds)
    cols = [f for f in data.output_fields if f in data.records.columns]
    seed_index = data.seed_index
    # The text as generated: redaction's placeholders and fictional values are not defects of
    # the generation, and would read as markup or identifiers.
    columns = {f: run.generated_records[f].tolist() for f in cols}

    def verdicts(start: int, stop: int) -> list[tuple[list[str], int]]:
        out: list[tuple[list[str], int]] = []
        for i in range(start, stop):
            rec = {f: columns[f][i] for f in cols}
            why = checker.reasons(rec)
            why += [r for chk in checks if (r := chk(rec, seed_index[i])) is not None]
            unjudged = faithful.unjudged
            if faithful:
                why += faithful.reasons(rec, seed_index[i])
            # Workers' counters die with them: the count travels with each verdict.
            out.append((why, faithful.unjudged - unjudged))
        return out

    info = {
        "validators": len(checks),
        "answer_grounding_rules": len(faithful.grounding),
        "role_rules": len(faithful.roles),
    }
    return verdicts, info


def start_usefulness(run: GateRun) -> None:
    """Start the usefulness checks in forked workers now (they read only the records as
    generated), so they run while the privacy gates do; `usefulness` collects them."""
    workers = worker_count(run.n, _USEFULNESS_MIN_PER_WORKER)
    if workers < 2 or not can_fork():
        return
    try:
        verdicts, info = _usefulness_work(run)
    except Exception:  # raised again, in gate order, by usefulness()
        return
    run.pending["usefulness"] = (ForkedRanges(verdicts, run.n, workers), info)


def usefulness(run: GateRun) -> None:
    """Language integrity, degenerate output, grounding validators, answer grounding and
    dialogue roles, per record."""
    c = run.cfg.usefulness
    run.progress("usefulness")
    data = run.data
    pending = run.pending.pop("usefulness", None)
    if pending is not None:
        results, info = pending[0].results(), pending[1]
    else:
        verdicts, info = _usefulness_work(run)
        results = verdicts(0, run.n)
    all_reasons = [why for why, _ in results]
    unjudged = sum(n for _, n in results)
    by_reason: Counter[str] = Counter()
    failing: list[int] = []
    for i, why in enumerate(all_reasons):
        if why:
            failing.append(i)
            by_reason.update(why)
            if run.drop:
                for reason in why:
                    run.blame([i], reason)
    share = len(failing) / run.n if run.n else 0.0
    metrics = {
        "records": run.n,
        "failing_records": len(failing),
        "dropped_records": len(failing) if run.drop else 0,
        "failing_share": round(share, 6),
        "failing_by_reason": dict(sorted(by_reason.items())),
        "locale": data.locale,
        "text_fields": data.text_fields,
        "validators": info["validators"],
        "answer_grounding_rules": info["answer_grounding_rules"],
        "role_rules": info["role_rules"],
        "answer_grounding_unjudged": unjudged,
        "positions": failing[:LIST_CAP],
    }
    run.add(
        "usefulness",
        c.blocking,
        run.drop_ok(len(failing)) if run.drop else not failing,
        metrics,
        {
            "min_target_share": c.min_target_share,
            "max_unknown_share": c.max_unknown_share,
            "max_digit_run": c.max_digit_run,
            "max_numeric_share": c.max_numeric_share,
            "min_hex_run": c.min_hex_run,
            "min_base64_run": c.min_base64_run,
            "instruction_min_chars": c.instruction_min_chars,
            "repeat_min_chars": c.repeat_min_chars,
            "repeat_clause_min_chars": c.repeat_clause_min_chars,
            "max_uppercase_share": c.max_uppercase_share,
            "min_meaningful_chars": c.min_meaningful_chars,
        },
    )


def judge(run: GateRun) -> None:
    """LLM-as-judge over the records no other gate dropped; scores kept in the private detail."""
    c = run.cfg.judge
    run.progress("LLM judge")
    data = run.data
    cols = [f for f in data.output_fields if f in data.records.columns]
    columns = {f: data.records[f].tolist() for f in cols}
    kept = run.kept_mask()
    records = [{f: _plain(columns[f][i]) for f in cols} if kept[i] else None for i in range(run.n)]
    verdicts = judge_records(c, data.task, records)
    failing = [i for i, why in enumerate(verdicts.reasons) if why]
    by_reason: Counter[str] = Counter(r for why in verdicts.reasons for r in why)
    if run.drop:
        for i in failing:
            for reason in verdicts.reasons[i]:
                run.blame([i], reason)
    judged = [s for s in verdicts.scores if s is not None]
    run.detail["judge"] = [
        {"position": i, "scores": s} for i, s in enumerate(verdicts.scores) if s is not None
    ]
    run.add(
        "judge",
        c.blocking,
        run.drop_ok(len(failing)) if run.drop else not failing,
        {
            "judged_records": sum(r is not None for r in records),
            "scored_records": len(judged),
            "failing_records": len(failing),
            "failing_by_reason": dict(sorted(by_reason.items())),
            "mean_scores": {
                k.name: round(sum(s[k.name] for s in judged) / len(judged), 4) if judged else None
                for k in c.criteria
            },
            "judge_backend": verdicts.info.backend,
            "judge_model_id": verdicts.info.model_id,
            "judge_model_digest": verdicts.info.model_digest,
            "positions": failing[:LIST_CAP],
        },
        {"criteria": {k.name: k.min_score for k in c.criteria}},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def diversity(run: GateRun) -> None:
    """Over the kept records: no enum field collapsed to one value, distinct-2 above a floor."""
    c = run.cfg.diversity
    run.progress("diversity")
    data = run.data
    kept = np.flatnonzero(run.kept_mask())
    problems: list[str] = []
    enums: dict[str, dict[str, int]] = {}
    for name, choices in data.enum_fields.items():
        if name not in data.records.columns or len(choices) < 2:
            continue
        values = data.records[name].iloc[kept].astype(str).tolist()
        counts = Counter(values)
        seed_values = {str(s[name]) for s in data.seeds if s.get(name) not in (None, "")}
        enums[name] = dict(counts.most_common(10))
        # Collapse: one value everywhere although the recipe allows several and the seeds
        # (when they carry the field) use several.
        seeds_vary = len(seed_values) >= 2 or not any(name in s for s in data.seeds)
        if len(kept) >= c.min_records and len(counts) == 1 and seeds_vary:
            problems.append(f"{name}: every kept record has {next(iter(counts))!r}")
    texts = [run.pii_texts[int(kept[i])] for i in sample_indices(len(kept), 10_000)]
    d2 = distinct_n(texts)["distinct_2"] if texts else 0.0
    if c.min_distinct_2 is not None and len(kept) >= c.min_records and d2 < c.min_distinct_2:
        problems.append(f"distinct-2 {d2:.3f} below {c.min_distinct_2}")
    run.add(
        "diversity",
        c.blocking,
        not problems,
        {
            "kept_records": len(kept),
            "enum_values": enums,
            "distinct_2": round(d2, 6),
            "problems": problems,
        },
        {"min_records": c.min_records, "min_distinct_2": c.min_distinct_2},
    )
