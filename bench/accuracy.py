"""Accuracy of `hinge analyze` against simulator ground truth, per metric (the figures the tests assert).

    python bench/accuracy.py [--seeds 8] [--reps 8] [--first-seed 0] [--lowpass-hz 8]

Clean sets (decent IMUs) and realistic sets (strap wobble, 400 µg/√Hz, ±3 °/s gyro bias, bursts of lost
samples 20–200 ms, ±5 ms time offset), three exercises, random mounting. Prints rep-count mismatches,
gap-flag detection, and per metric RMS / 95th percentile / max error in degrees, against the targets.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from analysis.pipeline import METRICS, Settings, analyze
from sensing.simulator import CLEAN, EXERCISES, REALISTIC, SimConfig, simulate_set

TARGETS = {"clean": (0.5, 1.0, 2.0), "realistic": (1.0, 2.0, None)}  # RMS, 95 % within, max


def evaluate(errors, seeds: range, reps: int, settings: Settings) -> dict:
    errs = {m: [] for m in METRICS}
    counts = {"sets": 0, "count_mismatch": 0, "gap_truth": 0, "gap_hit": 0, "other": 0, "other_false": 0}
    for ex in EXERCISES:
        for seed in seeds:
            sim = simulate_set(SimConfig(exercise=ex, reps=reps, seed=seed, errors=errors))
            res = analyze(sim.series, exercise=ex, settings=settings)
            counts["sets"] += 1
            if len(res.reps) != len(sim.truth["reps"]):
                counts["count_mismatch"] += 1
                continue
            for rt, ra in zip(sim.truth["reps"], res.reps, strict=True):
                if rt["gap"]:
                    counts["gap_truth"] += 1
                    counts["gap_hit"] += ra["gap"]
                    continue
                counts["other"] += 1
                counts["other_false"] += ra["gap"]
                for m in METRICS:
                    errs[m].append(abs(ra[m] - rt[m]))
    return {"errors": {m: np.array(v) for m, v in errs.items()}, "counts": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0, help="e.g. 100: seeds never used while tuning")
    ap.add_argument("--lowpass-hz", type=float, default=Settings().lowpass_hz, help="angle low-pass; 0 = off")
    args = ap.parse_args()
    settings = Settings(lowpass_hz=args.lowpass_hz or None)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for name, errors in (("clean", CLEAN), ("realistic", REALISTIC)):
        t0 = time.perf_counter()
        r = evaluate(errors, seeds, args.reps, settings)
        c = r["counts"]
        rms_t, p95_t, max_t = TARGETS[name]
        print(f"== {name}: {c['sets']} sets ({len(EXERCISES)} exercises x {args.seeds} seeds), "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"rep count mismatches: {c['count_mismatch']}/{c['sets']}")
        if c["gap_truth"]:
            print(f"gap reps flagged: {c['gap_hit']}/{c['gap_truth']} ({100 * c['gap_hit'] / c['gap_truth']:.0f} %, "
                  f"target >= 90 %); clean reps wrongly flagged: {c['other_false']}/{c['other']} (target <= 3 %)")
        print(f"{'metric':25s} {'n':>5s} {'RMS':>7s} {'p95':>7s} {'max':>7s}   target RMS<={rms_t} "
              f"95%<={p95_t}" + (f" max<={max_t}" if max_t else ""))
        for m, e in r["errors"].items():
            print(f"{m:25s} {len(e):5d} {np.sqrt(np.mean(e**2)):7.3f} {np.percentile(e, 95):7.3f} {e.max():7.3f}")


if __name__ == "__main__":
    main()
