"""Benchmark: synthspace's vectorised persona sampler vs pgmpy's forward_sample, same network, same run.

    python benchmarks/personas_sampling.py --n 1000000 --pgmpy-n 1000000 --repeat 3

Both draw from the network `build_model(load_spec(locale))`: pgmpy's
`BayesianModelSampling(model).forward_sample` and `PersonaSampler.sample` over the very same
tables. Reported: personas per second (best of --repeat), the ratio, and a distribution check:
for every variable the total variation distance of each sample's marginal from the exact
marginal (variable elimination) and a two-sample chi-square p-value between the two samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore", category=FutureWarning)


def best_of(repeat: int, fn):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--locale", default="ja_JP")
    ap.add_argument("--n", type=int, default=1_000_000, help="personas for synthspace's sampler")
    ap.add_argument("--pgmpy-n", type=int, default=1_000_000, help="personas for pgmpy (smaller if it is too slow)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pgmpy-repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    from pgmpy.sampling import BayesianModelSampling

    from synthspace.node.personas import PersonaSampler, build_model, load_spec, marginal
    from synthspace.node.personas.persona_sets import sample_persona_frame

    spec = load_spec(args.locale)
    model = build_model(spec)
    sampler = PersonaSampler(spec)

    t_ours, ours = best_of(args.repeat, lambda: sampler.sample(args.n, seed=args.seed))
    t_full, _ = best_of(1, lambda: sample_persona_frame(spec, args.n, seed=args.seed))
    t_pgmpy, theirs = best_of(
        args.pgmpy_repeat,
        lambda: BayesianModelSampling(model).forward_sample(size=args.pgmpy_n, seed=args.seed + 1, show_progress=False),
    )
    rate_ours = args.n / t_ours
    rate_full = args.n / t_full
    rate_pgmpy = args.pgmpy_n / t_pgmpy

    checks = []
    for v in spec.variables:
        exact = marginal(spec, v.name).to_numpy()
        a = ours[v.name].astype(str).value_counts().reindex(v.states, fill_value=0).to_numpy(float)
        b = theirs[v.name].astype(str).value_counts().reindex(v.states, fill_value=0).to_numpy(float)
        keep = (a + b) >= 10
        p = float(stats.chi2_contingency(np.vstack([a[keep], b[keep]]))[1]) if keep.sum() > 1 else 1.0
        checks.append({
            "variable": v.name,
            "tvd_ours": float(0.5 * np.abs(a / a.sum() - exact).sum()),
            "tvd_pgmpy": float(0.5 * np.abs(b / b.sum() - exact).sum()),
            "two_sample_p": p,
        })
    result = {
        "locale": args.locale,
        "spec_digest": spec.digest,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "n_ours": args.n,
        "n_pgmpy": args.pgmpy_n,
        "seconds_ours": t_ours,
        "seconds_ours_with_ids_and_names": t_full,
        "seconds_pgmpy": t_pgmpy,
        "personas_per_s_ours": rate_ours,
        "personas_per_s_ours_with_ids_and_names": rate_full,
        "personas_per_s_pgmpy": rate_pgmpy,
        "speedup": rate_ours / rate_pgmpy,
        "checks": checks,
    }
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print(f"locale {args.locale}  spec {spec.digest[:23]}…  {result['machine']}")
    print(f"synthspace PersonaSampler   n={args.n:>9,}  {t_ours:7.2f}s  {rate_ours:>12,.0f} personas/s (best of {args.repeat})")
    print(f"  + persona_id, name, frame n={args.n:>9,}  {t_full:7.2f}s  {rate_full:>12,.0f} personas/s")
    print(f"pgmpy forward_sample        n={args.pgmpy_n:>9,}  {t_pgmpy:7.2f}s  {rate_pgmpy:>12,.0f} personas/s")
    print(f"speedup (sampler vs pgmpy): {rate_ours / rate_pgmpy:.1f}x")
    frame = pd.DataFrame(checks)
    print(frame.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"min two-sample p = {frame.two_sample_p.min():.3g}; max TVD ours = {frame.tvd_ours.max():.4f}, "
          f"pgmpy = {frame.tvd_pgmpy.max():.4f}")


if __name__ == "__main__":
    main()
