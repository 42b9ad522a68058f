"""`run_gates`: every privacy and quality gate over one run directory.

Normalisation is done once for the whole run (one NFKC call over all records joined, then
case-folding and whitespace removal over the same string), and every gate reads the shared
arrays, so the cost stays a few numpy passes over the corpus.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from synthspace.canonical_json import digest
from synthspace.lineage import GateResult
from synthspace.node.gates.config import GatesConfig, gates_config_from_mapping
from synthspace.node.gates.report import GateReport, write_private_detail, write_report
from synthspace.node.gates.run_dir import RunData, load_run, record_texts, seed_texts
from synthspace.node.privacy.canaries import collect_canaries, find_canaries
from synthspace.node.privacy.leakage import LeakageResult, SeedIndex, check_leakage
from synthspace.node.privacy.membership import membership_auc, seed_max_similarity
from synthspace.node.privacy.pii import PII_TYPES, PiiFinding, find_pii
from synthspace.node.privacy.text import SEPARATOR, match_form, pii_form
from synthspace.node.quality.coverage import persona_coverage
from synthspace.node.quality.near_duplicates import exact_duplicates, near_duplicates
from synthspace.node.quality.schema import schema_validity
from synthspace.node.quality.stats import (
    compression_ratio,
    distinct_n,
    length_stats,
    sample_indices,
)

Progress = Callable[[str], None]
_RECORD_SEP = "\ue001"
_LIST_CAP = 100  # positions listed per gate in the publishable report


def normalise_records(fields: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """(pii-form texts, match-form texts) of every record, fields joined.

    One NFKC call over everything joined is far cheaper than one per field. PUA delimiters
    are starters under NFKC, so nothing composes across them.
    """
    clean = (
        [[v.replace(SEPARATOR, " ").replace(_RECORD_SEP, " ") for v in vals] for vals in fields]
        if any(SEPARATOR in v or _RECORD_SEP in v for vals in fields for v in vals)
        else fields
    )
    joined = _RECORD_SEP.join(SEPARATOR.join(vals) for vals in clean)
    nfkc = unicodedata.normalize("NFKC", joined)
    pii_texts = nfkc.replace(SEPARATOR, "\n").split(_RECORD_SEP)
    match_texts = "".join(nfkc.casefold().split()).split(_RECORD_SEP)
    if len(pii_texts) != len(fields) or len(match_texts) != len(fields):  # pragma: no cover
        pii_texts = ["\n".join(pii_form(v) for v in vals) for vals in fields]
        match_texts = [SEPARATOR.join(match_form(v) for v in vals) for vals in fields]
    return pii_texts, match_texts


def _ids(data: RunData, positions: np.ndarray | list[int]) -> list[str]:
    if "record_id" not in data.records.columns:
        return []
    col = data.records["record_id"]
    return [str(col.iat[int(p)]) for p in list(positions)[:_LIST_CAP]]


def _id(data: RunData, position: int) -> str | None:
    ids = _ids(data, [position])
    return ids[0] if ids else None


def _config_for(data: RunData, config: GatesConfig | None) -> GatesConfig:
    if config is not None:
        return config
    recipe = data.manifest.get("recipe")
    if isinstance(recipe, dict) and recipe.get("gates") is not None:
        return gates_config_from_mapping(recipe["gates"], "recipe gates section")
    if data.manifest.get("gates") is not None:
        return gates_config_from_mapping(data.manifest["gates"], "manifest gates section")
    # The recipe file itself (node-local path recorded in the manifest) may carry `gates:`.
    if isinstance(recipe, dict) and isinstance(recipe.get("path"), str):
        path = Path(recipe["path"])
        if path.is_file():
            import yaml

            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                doc = None  # generation validated this file; an unreadable copy means defaults
            if isinstance(doc, dict) and doc.get("gates") is not None:
                return gates_config_from_mapping(
                    doc["gates"], f"{path} gates section"
                ).resolve_paths(path.parent)
    return GatesConfig()


class _Run:
    """State shared by the gates of one run."""

    def __init__(self, data: RunData, cfg: GatesConfig, progress: Progress) -> None:
        self.data = data
        self.cfg = cfg
        self.progress = progress
        self.results: list[GateResult] = []
        self.skipped: dict[str, str] = {}
        self.detail: dict[str, Any] = {}
        self.exclude: list[str] = []
        progress("normalising records")
        self.fields = record_texts(data.records, data.output_fields)
        self.pii_texts, self.match_texts = normalise_records(self.fields)
        self.n = len(self.fields)
        self.seed_fields = seed_texts(data.seeds)
        self.index: SeedIndex | None = None
        self.leak: LeakageResult | None = None

    # -- privacy -------------------------------------------------------------------------
    def leakage(self) -> None:
        c = self.cfg.leakage
        self.progress("seed leakage")
        allow = self.cfg.allowlist()
        # The pre-filter n-gram must be short enough that any common substring above the
        # review threshold contains one, or the suffix automaton would never see it.
        n_pre = min(c.ngram_n, c.lcs_review_chars + 1)
        self.index = SeedIndex.build(self.seed_fields, n_pre, allow)
        leak = check_leakage(
            self.index, self.fields, c.lcs_review_chars, c.exact_min_chars, self.match_texts
        )
        if n_pre != c.ngram_n:
            other = SeedIndex.build(self.seed_fields, c.ngram_n, allow)
            leak.containment = check_leakage(
                other, self.fields, 10**9, 10**9, self.match_texts
            ).containment
        self.leak = leak
        fail_lcs = leak.lcs >= c.lcs_fail_chars
        fail_cont = leak.containment >= c.containment_fail
        failing = leak.exact | fail_lcs | fail_cont
        review = (leak.lcs > c.lcs_review_chars) | (leak.containment >= c.containment_review)
        fpos = np.flatnonzero(failing)
        rpos = np.flatnonzero(review & ~failing)
        self.detail["seed_leakage"] = [
            {
                "position": int(p),
                "record_id": _id(self.data, p),
                "seed_index": int(leak.seed_index[p]),
                "exact": bool(leak.exact[p]),
                "lcs_chars": int(leak.lcs[p]),
                "containment": round(float(leak.containment[p]), 4),
                "status": "fail" if failing[p] else "review",
            }
            for p in np.flatnonzero(failing | review)[:10_000].tolist()
        ]
        metrics = {
            "records": self.n,
            "seeds": len(self.seed_fields),
            "allowlist_phrases": len(allow),
            "exact_matches": int(leak.exact.sum()),
            "records_lcs_over_review": int((leak.lcs > c.lcs_review_chars).sum()),
            "records_lcs_at_fail": int(fail_lcs.sum()),
            "records_containment_over_review": int(
                (leak.containment >= c.containment_review).sum()
            ),
            "records_containment_at_fail": int(fail_cont.sum()),
            "failing_records": len(fpos),
            "review_records": len(rpos),
            "max_lcs_chars": int(leak.lcs.max()) if self.n else 0,
            "max_containment": round(float(leak.containment.max()), 4) if self.n else 0.0,
            "mean_containment": round(float(leak.containment.mean()), 6) if self.n else 0.0,
            "failing_positions": fpos[:_LIST_CAP].tolist(),
            "failing_record_ids": _ids(self.data, fpos),
            "review_positions": rpos[:_LIST_CAP].tolist(),
        }
        self._add(
            "seed_leakage",
            c.blocking,
            len(fpos) <= c.max_failing_records,
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

    def pii(self) -> tuple[list[PiiFinding], list[PiiFinding]]:
        c = self.cfg.pii
        self.progress("PII detection")
        # Replay compares every PII type, whatever the PII gate itself is told to count.
        types = list(PII_TYPES) if self.cfg.pii_replay.enabled else list(c.types)
        findings = find_pii(self.pii_texts, types, already_normalised=True)
        seed_findings = find_pii(["\n".join(v) for v in self.seed_fields], types)
        if not c.enabled:
            return findings, seed_findings
        seen = [f for f in findings if f.type in c.types and not (c.ignore_reserved and f.reserved)]
        counted = [f for f in seen if f.type in c.blocking_types]
        by_type = Counter(f.type for f in seen)
        recs = sorted({f.doc for f in counted})
        rate = len(recs) / self.n if self.n else 0.0
        per_record: dict[int, set[str]] = {}
        for f in counted:
            per_record.setdefault(f.doc, set()).add(f.type)
        self.detail["pii"] = [
            {
                "position": f.doc,
                "type": f.type,
                "start": f.start,
                "end": f.end,
                "reserved": f.reserved,
            }
            for f in findings[:10_000]
        ]
        metrics = {
            "records": self.n,
            "findings": len(counted),
            "records_with_pii": len(recs),
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
                    "record_id": _id(self.data, p),
                    "types": sorted(per_record[p]),
                }
                for p in recs[:_LIST_CAP]
            ],
        }
        self._add(
            "pii",
            c.blocking,
            rate <= c.max_record_rate and (c.max_record_rate > 0 or not recs),
            metrics,
            {
                "types": list(c.types),
                "blocking_types": list(c.blocking_types),
                "max_record_rate": c.max_record_rate,
                "ignore_reserved": c.ignore_reserved,
            },
        )
        return findings, seed_findings

    def replay(self, findings: list[PiiFinding], seed_findings: list[PiiFinding]) -> None:
        c = self.cfg.pii_replay
        self.progress("PII replay")
        seed_values: dict[tuple[str, str], set[int]] = {}
        for f in seed_findings:
            seed_values.setdefault((f.type, f.value), set()).add(f.doc)
        replayed = [f for f in findings if (f.type, f.value) in seed_values]
        recs = sorted({f.doc for f in replayed})
        self.detail["pii_replay"] = [
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
            "positions": recs[:_LIST_CAP],
            "record_ids": _ids(self.data, recs),
        }
        self._add("pii_replay", c.blocking, not replayed, metrics, {"max_replayed": 0})

    def canaries(self) -> None:
        c = self.cfg.canaries
        self.progress("canaries")
        raw_seed_texts = [v for vals in self.seed_fields for v in vals]
        canaries = collect_canaries(self.cfg.canary_list(), raw_seed_texts, c.seed_pattern)
        counts = find_canaries(canaries, self.match_texts)
        recs = np.flatnonzero(counts)
        self.detail["canaries"] = [
            {"position": int(p), "canaries": int(counts[p])} for p in recs[:10_000]
        ]
        metrics = {
            "canaries": len(canaries),
            "records_with_canary": len(recs),
            "canary_hits": int(counts.sum()),
            "positions": recs[:_LIST_CAP].tolist(),
            "record_ids": _ids(self.data, recs),
        }
        self._add("canaries", c.blocking, len(recs) == 0, metrics, {"max_hits": 0})

    def membership(self) -> None:
        c = self.cfg.membership
        if c.enabled == "off":
            self.skipped["membership"] = "disabled"
            return
        nseeds = len(self.seed_fields)
        used: set[int] | None = None
        holdout = self.data.manifest.get("holdout_seed_indices")
        if isinstance(holdout, list):
            used = set(range(nseeds)) - {int(i) for i in holdout}
        elif "_seed_index" in self.data.records.columns:
            col = self.data.records["_seed_index"].dropna()
            used = {int(i) for i in col.unique().tolist()}
        if used is None:
            self.skipped["membership"] = (
                "the run records no seed indices (_seed_index) and no holdout"
            )
            return
        used_idx = np.array(sorted(i for i in used if 0 <= i < nseeds), dtype=np.int64)
        hold_idx = np.setdiff1d(np.arange(nseeds), used_idx)
        if len(used_idx) < c.min_group or len(hold_idx) < c.min_group:
            self.skipped["membership"] = (
                f"needs at least {c.min_group} used and {c.min_group} held-out seeds "
                f"(have {len(used_idx)} and {len(hold_idx)})"
            )
            return
        self.progress("membership")
        assert self.index is not None and self.leak is not None
        sims = seed_max_similarity(
            self.leak.hit_records,
            self.leak.hit_hash_idx,
            self.index.pair_hash_idx,
            self.index.pair_seed,
            self.index.seed_ngram_counts,
        )
        auc = membership_auc(sims[used_idx], sims[hold_idx])
        metrics = {
            "used_seeds": len(used_idx),
            "holdout_seeds": len(hold_idx),
            "auc": round(auc, 4),
            "mean_similarity_used": round(float(sims[used_idx].mean()), 4),
            "mean_similarity_holdout": round(float(sims[hold_idx].mean()), 4),
            "ngram_n": self.index.n,
        }
        self._add("membership", c.blocking, auc < c.max_auc, metrics, {"max_auc": c.max_auc})

    # -- quality -------------------------------------------------------------------------
    def duplicates(self) -> None:
        c = self.cfg.near_duplicates
        self.progress("duplicates")
        dup = exact_duplicates(self.match_texts)
        dpos = np.flatnonzero(dup)
        if "record_id" in self.data.records.columns:
            ids = self.data.records["record_id"]
            self.exclude = [str(ids.iat[int(p)]) for p in dpos]
        uniq = np.flatnonzero(~dup)
        res = near_duplicates(
            [self.match_texts[i] for i in uniq],
            c.jaccard_threshold,
            c.num_perm,
            c.shingle_chars,
            c.shingle_sample,
        )
        redundant = uniq[res.redundant]
        rate = len(redundant) / len(uniq) if len(uniq) else 0.0
        metrics = {
            "records": self.n,
            "exact_duplicates_removed": len(dpos),
            "unique_records": len(uniq),
            "near_duplicate_records": len(redundant),
            "near_duplicate_rate": round(rate, 6),
            "clusters": res.clusters,
            "largest_cluster": res.largest_cluster,
            "lsh_bands": res.bands,
            "lsh_rows": res.rows,
            "positions": redundant[:_LIST_CAP].tolist(),
        }
        self._add(
            "near_duplicates",
            c.blocking,
            rate <= c.max_rate,
            metrics,
            {
                "jaccard_threshold": c.jaccard_threshold,
                "max_rate": c.max_rate,
                "num_perm": c.num_perm,
                "shingle_chars": c.shingle_chars,
                "shingle_sample": c.shingle_sample,
            },
        )

    def schema(self) -> None:
        c = self.cfg.schema_validity
        self.progress("schema validity")
        m = schema_validity(self.data.records, self.data.schema)
        m["rate"] = round(m["rate"], 6)
        self._add(
            "schema_validity",
            c.blocking,
            m["rate"] >= c.min_valid_rate and self.n > 0,
            m,
            {"min_valid_rate": c.min_valid_rate},
        )

    def quality(self) -> None:
        c = self.cfg.quality
        self.progress("quality statistics")
        idx = sample_indices(self.n, c.sample_size)
        sample = [self.pii_texts[i] for i in idx]
        dn = distinct_n(sample)
        cr = compression_ratio(sample)
        lengths = np.fromiter((len(t) for t in self.pii_texts), dtype=np.int64, count=self.n)
        metrics = {
            "records": self.n,
            "sample_size": len(sample),
            "distinct_1": round(dn["distinct_1"], 6),
            "distinct_2": round(dn["distinct_2"], 6),
            "cjk_record_share": round(dn["cjk_share"], 4),
            "compression_ratio": cr,
            "length_chars": length_stats(lengths),
        }
        ok = self.n >= c.min_records
        if c.min_distinct_2 is not None and dn["distinct_2"] < c.min_distinct_2:
            ok = False
        if c.max_compression_ratio is not None and cr > c.max_compression_ratio:
            ok = False
        self._add(
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

    def coverage(self) -> None:
        c = self.cfg.persona_coverage
        if self.data.personas is None:
            self.skipped["persona_coverage"] = "the run names no readable persona file"
            return
        self.progress("persona coverage")
        m = persona_coverage(self.data.records, self.data.personas, c.max_values)
        ok = True
        for attr in m["attributes"].values():
            if attr["value_coverage"] < c.min_value_coverage:
                ok = False
            if (
                c.max_total_variation is not None
                and attr["total_variation"] > c.max_total_variation
            ):
                ok = False
        self._add(
            "persona_coverage",
            c.blocking,
            ok,
            m,
            {
                "min_value_coverage": c.min_value_coverage,
                "max_total_variation": c.max_total_variation,
            },
        )

    def _add(
        self,
        name: str,
        blocking: bool,
        passed: bool,
        metrics: dict[str, Any],
        thresholds: dict[str, Any],
    ) -> None:
        self.results.append(
            GateResult(
                name=name,
                blocking=blocking,
                passed=bool(passed),
                metrics=metrics,
                thresholds=thresholds,
            )
        )


def run_gates(
    run_dir: str | Path,
    config: GatesConfig | None = None,
    *,
    progress: Progress | None = None,
    write: bool = True,
) -> GateReport:
    """Run every enabled gate over RUN_DIR; write gate-report.json (and the node-private
    detail under RUN_DIR/private/) unless `write` is False.

    `config` overrides the recipe's `gates:` section, which overrides the defaults.
    """
    started = time.perf_counter()
    say: Progress = progress or (lambda _msg: None)
    say("reading run directory")
    data = load_run(run_dir)
    cfg = _config_for(data, config)
    run = _Run(data, cfg, say)
    leakage_needed = cfg.leakage.enabled or cfg.membership.enabled != "off"
    if leakage_needed:
        run.leakage()
        if not cfg.leakage.enabled:
            run.results.pop()
    if not cfg.leakage.enabled:
        run.skipped["seed_leakage"] = "disabled"
    findings: list[PiiFinding] = []
    seed_findings: list[PiiFinding] = []
    if cfg.pii.enabled or cfg.pii_replay.enabled:
        findings, seed_findings = run.pii()
    if not cfg.pii.enabled:
        run.skipped["pii"] = "disabled"
    if cfg.pii_replay.enabled:
        run.replay(findings, seed_findings)
    else:
        run.skipped["pii_replay"] = "disabled"
    if cfg.canaries.enabled:
        run.canaries()
    else:
        run.skipped["canaries"] = "disabled"
    run.membership()
    for name, enabled, step in (
        ("near_duplicates", cfg.near_duplicates.enabled, run.duplicates),
        ("schema_validity", cfg.schema_validity.enabled, run.schema),
        ("quality", cfg.quality.enabled, run.quality),
        ("persona_coverage", cfg.persona_coverage.enabled, run.coverage),
    ):
        if enabled:
            step()
        else:
            run.skipped[name] = "disabled"
    report = GateReport(
        passed=all(g.passed for g in run.results if g.blocking),
        gates=run.results,
        skipped=run.skipped,
        records=run.n,
        exclude_record_ids=run.exclude,
        config_digest=digest(cfg.model_dump(mode="json")),
        created=datetime.now(UTC),
        duration_s=round(time.perf_counter() - started, 3),
    )
    if write:
        say("writing report")
        write_private_detail(data.run_dir, run.detail)
        write_report(data.run_dir, report)
    return report
