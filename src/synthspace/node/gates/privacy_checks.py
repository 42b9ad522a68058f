"""The privacy gates of one run: seed leakage, PII, PII replay, canaries, membership.

Seed leakage and PII blame records (they are dropped when `filtering.drop_records`); PII
replay, canaries and membership are evidence against the whole run.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from synthspace.node.gates import redaction
from synthspace.node.gates.context import LIST_CAP, GateRun
from synthspace.node.privacy.canaries import collect_canaries, find_canaries
from synthspace.node.privacy.leakage import SeedIndex, check_leakage
from synthspace.node.privacy.membership import membership_auc, seed_max_similarity
from synthspace.node.privacy.pii import PII_TYPES, PiiFinding, find_pii


def leakage(run: GateRun) -> None:
    c = run.cfg.leakage
    run.progress("seed leakage")
    allow = run.cfg.allowlist()
    # The pre-filter n-gram must be short enough that any common substring above the
    # review threshold contains one, or the suffix automaton would never see it.
    n_pre = min(c.ngram_n, c.lcs_review_chars + 1)
    run.index = SeedIndex.build(run.seed_fields, n_pre, allow)
    leak = check_leakage(
        run.index, run.fields, c.lcs_review_chars, c.exact_min_chars, run.match_texts
    )
    if n_pre != c.ngram_n:
        other = SeedIndex.build(run.seed_fields, c.ngram_n, allow)
        leak.containment = check_leakage(
            other, run.fields, 10**9, 10**9, run.match_texts
        ).containment
    run.leak = leak
    fail_lcs = leak.lcs >= c.lcs_fail_chars
    fail_cont = leak.containment >= c.containment_fail
    failing = leak.exact | fail_lcs | fail_cont
    review = (leak.lcs > c.lcs_review_chars) | (leak.containment >= c.containment_review)
    fpos = np.flatnonzero(failing)
    rpos = np.flatnonzero(review & ~failing)
    if run.drop:
        run.blame(fpos.tolist(), "seed_leakage")
    run.detail["seed_leakage"] = [
        {
            "position": int(p),
            "record_id": run.id(p),
            "seed_index": int(leak.seed_index[p]),
            "exact": bool(leak.exact[p]),
            "lcs_chars": int(leak.lcs[p]),
            "containment": round(float(leak.containment[p]), 4),
            "status": "fail" if failing[p] else "review",
        }
        for p in np.flatnonzero(failing | review)[:10_000].tolist()
    ]
    metrics = {
        "records": run.n,
        "seeds": len(run.seed_fields),
        "allowlist_phrases": len(allow),
        "exact_matches": int(leak.exact.sum()),
        "records_lcs_over_review": int((leak.lcs > c.lcs_review_chars).sum()),
        "records_lcs_at_fail": int(fail_lcs.sum()),
        "records_containment_over_review": int((leak.containment >= c.containment_review).sum()),
        "records_containment_at_fail": int(fail_cont.sum()),
        "failing_records": len(fpos),
        "review_records": len(rpos),
        "max_lcs_chars": int(leak.lcs.max()) if run.n else 0,
        "max_containment": round(float(leak.containment.max()), 4) if run.n else 0.0,
        "mean_containment": round(float(leak.containment.mean()), 6) if run.n else 0.0,
        "failing_positions": fpos[:LIST_CAP].tolist(),
        "failing_record_ids": run.ids(fpos),
        "review_positions": rpos[:LIST_CAP].tolist(),
    }
    run.add(
        "seed_leakage",
        c.blocking,
        run.drop_ok(len(fpos)) if run.drop else len(fpos) <= c.max_failing_records,
        metrics,
        {
            "ngram_n": c.ngram_n,
            "containment_review": c.containment_review,
            "containment_fail": c.containment_fail,
            "lcs_review_chars": c.lcs_review_chars,
            "lcs_fail_chars": c.lcs_fail_chars,
            "exact_min_chars": c.exact_min_chars,
            "max_failing_records": c.max_failing_records,
        },
    )


def pii(run: GateRun) -> tuple[list[PiiFinding], list[PiiFinding]]:
    c = run.cfg.pii
    run.progress("PII detection")
    # Replay compares every PII type, whatever the PII gate itself is told to count.
    types = list(PII_TYPES) if run.cfg.pii_replay.enabled else list(c.types)
    locale = run.data.locale  # recognisers and phone region follow the recipe's locale
    findings = find_pii(run.pii_texts, types, already_normalised=True, locale=locale)
    seed_findings = find_pii(["\n".join(v) for v in run.seed_fields], types, locale=locale)
    if not c.enabled:
        return findings, seed_findings
    seen = [f for f in findings if f.type in c.types and not (c.ignore_reserved and f.reserved)]
    counted = [f for f in seen if f.type in c.blocking_types]
    by_type = Counter(f.type for f in seen)
    recs = sorted({f.doc for f in counted})
    per_record: dict[int, set[str]] = {}
    for f in counted:
        per_record.setdefault(f.doc, set()).add(f.type)
    unredacted = dict(per_record)
    redacted_by_type: Counter[str] = Counter()
    if c.action == "redact":
        # Records already blamed (seed leakage) are dropped, never redacted.
        todo: dict[int, list[PiiFinding]] = {}
        for f in counted:
            if f.doc not in run.blamed:
                todo.setdefault(f.doc, []).append(f)

        def is_counted(f: PiiFinding) -> bool:
            return f.type in c.blocking_types and not (c.ignore_reserved and f.reserved)

        run.redactions, failed = redaction.redact(run, todo, is_counted)
        for p, types_failed in failed.items():
            per_record[p] |= types_failed
        unredacted = {p: ts for p, ts in per_record.items() if p not in run.redactions}
        for rec in run.redactions.values():
            redacted_by_type.update(rec.counts)
    if run.drop:
        for p, types_found in unredacted.items():
            run.blame([p], "pii:" + "+".join(sorted(types_found)))
    run.detail["pii"] = [
        {
            "position": f.doc,
            "type": f.type,
            "start": f.start,
            "end": f.end,
            "reserved": f.reserved,
        }
        for f in findings[:10_000]
    ]
    left = sorted(unredacted)
    rate = len(recs) / run.n if run.n else 0.0
    left_rate = len(left) / run.n if run.n else 0.0
    metrics = {
        "records": run.n,
        "findings": len(counted),
        "records_with_pii": len(recs),
        "dropped_records": len(left) if run.drop else 0,
        "record_rate": round(rate, 6),
        "findings_by_type": dict(sorted(by_type.items())),
        "records_by_type": dict(
            sorted(Counter(t for ts in per_record.values() for t in ts).items())
        ),
        "reserved_ignored": sum(1 for f in findings if f.reserved and f.type in c.types)
        if c.ignore_reserved
        else 0,
        "flagged": [
            {
                "position": p,
                "record_id": run.id(p),
                "types": sorted(per_record[p]),
            }
            for p in recs[:LIST_CAP]
        ],
    }
    thresholds = {
        "types": list(c.types),
        "blocking_types": list(c.blocking_types),
        "max_record_rate": c.max_record_rate,
        "ignore_reserved": c.ignore_reserved,
    }
    if c.action == "redact":
        # Records redacted by this gate (some may be dropped later by other gates).
        metrics["redacted_records"] = len(run.redactions)
        metrics["redactions_by_type"] = dict(sorted(redacted_by_type.items()))
        thresholds["action"] = c.action
        thresholds["redaction"] = c.redaction
    run.add(
        "pii",
        c.blocking,
        run.drop_ok(len(left))
        if run.drop
        else (left_rate <= c.max_record_rate and (c.max_record_rate > 0 or not left)),
        metrics,
        thresholds,
    )
    return findings, seed_findings


def replay(run: GateRun, findings: list[PiiFinding], seed_findings: list[PiiFinding]) -> None:
    c = run.cfg.pii_replay
    run.progress("PII replay")
    seed_values: dict[tuple[str, str], set[int]] = {}
    for f in seed_findings:
        seed_values.setdefault((f.type, f.value), set()).add(f.doc)
    replayed = [f for f in findings if (f.type, f.value) in seed_values]
    recs = sorted({f.doc for f in replayed})
    run.detail["pii_replay"] = [
        {
            "position": f.doc,
            "type": f.type,
            "seed_indices": sorted(seed_values[(f.type, f.value)])[:20],
        }
        for f in replayed[:10_000]
    ]
    metrics = {
        "seed_pii_values": len(seed_values),
        "seed_pii_values_by_type": dict(sorted(Counter(t for t, _ in seed_values).items())),
        "replayed_findings": len(replayed),
        "records_with_replay": len(recs),
        "replayed_by_type": dict(sorted(Counter(f.type for f in replayed).items())),
        "positions": recs[:LIST_CAP],
        "record_ids": run.ids(recs),
    }
    run.add("pii_replay", c.blocking, not replayed, metrics, {"max_replayed": 0})


def canaries(run: GateRun) -> None:
    c = run.cfg.canaries
    run.progress("canaries")
    raw_seed_texts = [v for vals in run.seed_fields for v in vals]
    canaries = collect_canaries(run.cfg.canary_list(), raw_seed_texts, c.seed_pattern)
    counts = find_canaries(canaries, run.match_texts)
    recs = np.flatnonzero(counts)
    run.detail["canaries"] = [
        {"position": int(p), "canaries": int(counts[p])} for p in recs[:10_000]
    ]
    metrics = {
        "canaries": len(canaries),
        "records_with_canary": len(recs),
        "canary_hits": int(counts.sum()),
        "positions": recs[:LIST_CAP].tolist(),
        "record_ids": run.ids(recs),
    }
    run.add("canaries", c.blocking, len(recs) == 0, metrics, {"max_hits": 0})


def membership(run: GateRun) -> None:
    c = run.cfg.membership
    if c.enabled == "off":
        run.skipped["membership"] = "disabled"
        return
    nseeds = len(run.seed_fields)
    used: set[int] | None = None
    if "_seed_index" in run.data.records.columns:
        col = run.data.records["_seed_index"].dropna()
        used = {int(i) for i in col.unique().tolist()}
    if used is None:
        run.skipped["membership"] = "the run records no seed indices (_seed_index) and no holdout"
        return
    used_idx = np.array(sorted(i for i in used if 0 <= i < nseeds), dtype=np.int64)
    hold_idx = np.setdiff1d(np.arange(nseeds), used_idx)
    if len(used_idx) < c.min_group or len(hold_idx) < c.min_group:
        run.skipped["membership"] = (
            f"needs at least {c.min_group} used and {c.min_group} held-out seeds "
            f"(have {len(used_idx)} and {len(hold_idx)})"
        )
        return
    run.progress("membership")
    assert run.index is not None and run.leak is not None
    sims = seed_max_similarity(
        run.leak.hit_records,
        run.leak.hit_hash_idx,
        run.index.pair_hash_idx,
        run.index.pair_seed,
        run.index.seed_ngram_counts,
    )
    auc = membership_auc(sims[used_idx], sims[hold_idx])
    metrics = {
        "used_seeds": len(used_idx),
        "holdout_seeds": len(hold_idx),
        "auc": round(auc, 4),
        "mean_similarity_used": round(float(sims[used_idx].mean()), 4),
        "mean_similarity_holdout": round(float(sims[hold_idx].mean()), 4),
        "ngram_n": run.index.n,
    }
    run.add("membership", c.blocking, auc < c.max_auc, metrics, {"max_auc": c.max_auc})
