"""`hinge demo`: a simulated set through the whole pipeline, no hardware needed."""

from __future__ import annotations

from analysis.pipeline import analyze
from analysis.report import format_report
from sensing.simulator import EXERCISES, SimConfig, simulate_set

HELP = "run a simulated set through the whole pipeline (no sensors needed)"


def add_arguments(p) -> None:
    p.add_argument("--exercise", choices=EXERCISES, default="swing")
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--seed", type=int, default=3)


def run(args) -> int:
    sim = simulate_set(SimConfig(exercise=args.exercise, reps=args.reps, seed=args.seed))
    result = analyze(sim.series, exercise=args.exercise).to_json(f"simulated {args.exercise} set (seed {args.seed})")
    print(format_report(result, title=f"hinge demo: {result['input']}"))
    return 0
