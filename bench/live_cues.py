"""Live cues against truth: cues raised outside any rep (sitting down, standing up, squatting to the weight,
side bends, twists, walking between reps) and reps with an injected fault that got no cue.

    python bench/live_cues.py [--seeds 6] [--first-seed 0]

Sets of 4 reps with random faults (about a third of reps, 0–16°; `SimConfig(faults=None)`), realistic
sensors, one movement mix between the reps, through the live `Tracker` in 20-ms packets
(`tests/truth.py::live_run`). A cue counts as inside a rep when it comes between 0.3 s before the rep's
true start and 0.3 s after its true end. An injected fault below its caution limit gets no cue by design,
so "faulty reps without a cue" is not all misses; compare runs of this script rather than read it as zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hinge.analysis.tracker import Alert  # noqa: E402
from hinge.sensing.simulator import EXERCISES, REALISTIC, SimConfig, simulate_set  # noqa: E402
from tests.truth import live_run  # noqa: E402

MOVEMENT_MIXES = (("sit_stand",), ("setup",), ("side_bend", "twist", "walk_turn"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{'movements':28s} {'sets':>4s} {'cues':>5s} {'outside reps':>12s} "
          f"{'faulty reps':>11s} {'without cue':>11s}")
    for movements in MOVEMENT_MIXES:
        sets = cues = outside = faulty = uncued = 0
        for ex in EXERCISES:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                sim = simulate_set(SimConfig(exercise=ex, reps=4, seed=seed, errors=REALISTIC, movements=movements))
                _, events = live_run(sim, exercise=ex)
                alerts = [e for e in events if isinstance(e, Alert)]
                windows = [(r["start_s"] - 0.3, r["end_s"] + 0.3) for r in sim.truth["reps"]]
                sets += 1
                cues += len(alerts)
                outside += sum(not any(lo <= a.t <= hi for lo, hi in windows) for a in alerts)
                for r, (lo, hi) in zip(sim.truth["reps"], windows, strict=True):
                    if r["injected"]:
                        faulty += 1
                        uncued += not any(lo <= a.t <= hi for a in alerts)
        print(f"{' + '.join(movements):28s} {sets:4d} {cues:5d} {outside:12d} {faulty:11d} {uncued:11d}")


if __name__ == "__main__":
    main()
