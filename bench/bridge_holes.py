"""The gyro hole bridge (`hinge.analysis.bridge`): what it leaves of the rotation a hole removes, and how
much of the live error after holes is left to recover.

    python bench/bridge_holes.py [--seeds 8] [--first-seed 0] [--mix "C7 strapped"] [--reps 6]
                                 [--exercise swing] [--skip-harness]

1. Holes of 30–250 ms cut at random into the reps of simulated sets without other losses (either sensor,
   50 or 100 Hz, upper sensor at T12 or C7; `tests/truth.py::holes_through_reps`, the test's harness):
   the integrated gyro error against the samples the hole removed, RMS / max, for a straight line and for
   the bridge (the line where it declines), per exercise; and the share of holes it bridged.
2. For one `bench/accuracy.py` mix (three exercises): the live error against truth without re-measuring
   the reps after a hole (`hinge.analysis.revise` off), as live reports them finally (re-measured), and
   with the offline metrics taken for the reps that start within 6 s after a hole of ≥ 25 ms in either
   sensor (the offline analysis has the whole set; a bound for what re-measuring can reach).
3. What one re-measuring costs the live loop (it runs on the loop thread between two frames): wall time
   per rep at 100 and 200 Hz (realistic swing sets of 15 reps, scipy.ndimage imported first as the session
   does).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.accuracy import MIXES  # noqa: E402
from hinge.analysis.bridge import BridgeSettings  # noqa: E402
from hinge.analysis.core import Settings  # noqa: E402
from hinge.analysis.revise import ReviseSettings  # noqa: E402
from hinge.analysis.timing import timing  # noqa: E402
from hinge.analysis.tracker import Tracker  # noqa: E402
from hinge.sensing.simulator import EXERCISES, REALISTIC, SimConfig, simulate_set  # noqa: E402
from tests.truth import METRICS, holes_through_reps, live_run, reps_of  # noqa: E402

AFTER_HOLE_S = 6.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--mix", default="C7 strapped", choices=[m for m, kw in MIXES.items() if kw is not None])
    ap.add_argument("--reps", type=int, default=6, help="reps a set in part 2 (longer sets: the fusion window "
                    "re-measuring a rep starts mid-set instead of at the standing start)")
    ap.add_argument("--exercise", action="append", choices=EXERCISES, help="part 2 only for these (default: all)")
    ap.add_argument("--skip-harness", action="store_true", help="part 2 only")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)

    print("1. integrated gyro error over a hole (°), straight line vs bridge")
    for ex in () if args.skip_harness else EXERCISES:
        err = holes_through_reps(ex, seeds, np.random.default_rng(3 + args.first_seed))
        line, bridge = np.sqrt(np.mean(err[:, :2] ** 2, axis=0))
        print(f"  {ex:13s} holes {len(err):3d}  line RMS {line:5.2f} max {err[:, 0].max():5.1f}  "
              f"bridge RMS {bridge:5.2f} max {err[:, 1].max():5.1f}  bridged {err[:, 2].mean():4.0%}")

    print(f"2. {args.mix!r}, live against truth: not re-measured, re-measured, offline metrics after a hole")
    plain, live, mixed, offline, n_after = [], [], [], [], 0
    no_revise = Settings(revise=ReviseSettings(enabled=False))
    min_hole = BridgeSettings().min_hole_s
    for ex in args.exercise or EXERCISES:
        for seed in seeds:
            sim = simulate_set(SimConfig(exercise=ex, reps=args.reps, seed=seed, **MIXES[args.mix]))
            on, off = reps_of(sim, "live", ex), reps_of(sim, "offline", ex)
            first = reps_of(sim, "live", ex, no_revise)
            if not len(on) == len(off) == len(first) == len(sim.truth["reps"]):
                print(f"  {ex}/{seed}: counts differ (live {len(on)}, offline {len(off)}), left out")
                continue
            holes = np.vstack([timing(s.t).holes for s in sim.series.values()])
            ends = holes[holes[:, 2] >= min_hole, 1]
            for rt, rl, ro, r0 in zip(sim.truth["reps"], on, off, first, strict=True):
                if rt["gap"] or rl["gap"]:
                    continue
                after = bool(np.any((ends < rt["start_s"]) & (ends > rt["start_s"] - AFTER_HOLE_S)))
                n_after += after
                for m in METRICS:
                    plain.append(r0[m] - rt[m])
                    live.append(rl[m] - rt[m])
                    mixed.append((ro if after else r0)[m] - rt[m])
                    offline.append(ro[m] - rt[m])
    for name, e in (("live, not re-measured", plain), ("live, re-measured after holes", live),
                    (f"live, offline for the {n_after} reps after a hole", mixed), ("offline", offline)):
        e = np.abs(np.asarray(e))
        print(f"  {name:45s} RMS {np.sqrt(np.mean(e**2)):.2f}  P95 {np.percentile(e, 95):.2f}  max {e.max():.2f}")


    print("3. one re-measuring of a rep after a hole, wall time on the loop thread (ms)")
    import scipy.ndimage  # noqa: F401  (as `hinge.session.Session` does before any frame)

    costs: list[float] = []

    class Timed(Tracker):
        def _remeasured(self, *a):
            t0 = time.perf_counter()
            out = super()._remeasured(*a)
            costs.append(time.perf_counter() - t0)
            return out

    for rate in (100.0, 200.0):
        costs.clear()
        for seed in seeds:
            live_run(simulate_set(SimConfig(exercise="swing", reps=15, seed=seed, errors=REALISTIC,
                                            rates_hz={"sacrum": rate, "thoracic": rate})), tracker=Timed)
        ms = 1e3 * np.asarray(costs)
        print(f"  {rate:5.0f} Hz  {len(ms):3d} reps  median {np.median(ms):5.1f}  max {ms.max():5.1f}")


if __name__ == "__main__":
    main()
