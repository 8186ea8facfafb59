"""Accuracy of the analysis against simulator ground truth, offline (`hinge analyze`) and live (the
`Tracker` fed in 20-ms packets), side by side, per exercise and per movement mix.

    python bench/accuracy.py [--seeds 4] [--reps 6] [--first-seed 0] [--mix NAME ...] [--offline-only]

Sets: clean (decent IMUs) and realistic (strap wobble, 400 µg/√Hz, ±3 °/s gyro bias, bursts of lost
samples 20–200 ms, ±5 ms time offset), random mounting; then the movement mixes real recordings hold:
side bends, twists, walking and turning, set-up squats, sitting down and standing up between reps; stoop
bends; the upper sensor at C7 strapped flat on the skin; 50 Hz sensors without timestamps; averaged
samples; another lab's seated protocol (3 flexions, then side bends and rotations). Prints per cell the
rep-count mismatches and RMS / P95 / max error over every metric of every rep without a data gap.
Truth comes from the generator (tests/truth.py scores it the same way as the tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hinge.sensing.simulator import CLEAN, EXERCISES, REALISTIC, SimConfig, lab_protocol, simulate_set  # noqa: E402
from tests.truth import Score, reps_of  # noqa: E402

MOVEMENTS = ("side_bend", "twist", "walk_turn", "setup", "sit_stand")
MIXES = {
    "clean": dict(errors=CLEAN),
    "realistic": dict(errors=REALISTIC),
    "movements": dict(errors=REALISTIC, movements=MOVEMENTS),
    "stoop": dict(errors=REALISTIC, stoop=True),
    "C7 strapped": dict(errors=REALISTIC, upper_level=1.0, mounting="strapped"),
    "50 Hz no timestamps": dict(errors=REALISTIC, timestamps="counter", rates_hz={"sacrum": 50.0, "thoracic": 50.0}),
    "averaged samples": dict(errors=REALISTIC, sample_mode="averaged"),
    "seated lab protocol": None,  # lab_protocol(seed)
}
TARGETS = (
    "targets: offline clean RMS ≤ 0.2°, max ≤ 1°; realistic RMS ≤ 1°, P95 ≤ 2°; "
    "live realistic RMS ≤ 0.65°, P95 ≤ 1.3°"
)


def configs(mix: str, exercise: str, seeds: range, reps: int):
    for seed in seeds:
        if MIXES[mix] is None:
            yield lab_protocol(seed)
        else:
            yield SimConfig(exercise=exercise, reps=reps, seed=seed, **MIXES[mix])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=0, help="e.g. 100: seeds never used while tuning")
    ap.add_argument("--mix", action="append", choices=list(MIXES), help="only these mixes (default: all)")
    ap.add_argument("--offline-only", action="store_true", help="skip the (slower) live runs")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    modes = ("offline",) if args.offline_only else ("offline", "live")
    print(TARGETS)
    print(f"{'mix':22s} {'exercise':13s} {'mode':8s} {'sets':>4s} {'wrong n':>7s} {'reps':>5s} "
          f"{'RMS°':>6s} {'P95°':>6s} {'max°':>6s}")
    for mix in args.mix or list(MIXES):
        exercises = ("good_morning",) if MIXES[mix] is None else EXERCISES
        totals = {m: Score() for m in modes}
        for ex in exercises:
            sims = [simulate_set(c) for c in configs(mix, ex, seeds, args.reps)]
            for mode in modes:
                t0 = time.perf_counter()
                score = Score()
                for sim, cfg in zip(sims, configs(mix, ex, seeds, args.reps), strict=True):
                    reps = reps_of(sim, mode, cfg.exercise)
                    score.add(sim, reps, f"{ex}/{cfg.seed}")
                    totals[mode].add(sim, reps, f"{ex}/{cfg.seed}")
                label = "lab" if MIXES[mix] is None else ex
                _row(mix, label, mode, score, time.perf_counter() - t0)
        if len(exercises) > 1:
            for mode in modes:
                _row(mix, "all", mode, totals[mode], None)


def _row(mix, ex, mode, s: Score, seconds) -> None:
    n = len(s.all()) // 5
    took = f"  {seconds:.0f} s" if seconds is not None else ""
    print(f"{mix:22s} {ex:13s} {mode:8s} {s.sets:4d} {len(s.count_mismatch):7d} {n:5d} "
          f"{s.rms():6.2f} {s.p95():6.2f} {s.worst():6.2f}{took}", flush=True)


if __name__ == "__main__":
    main()
