"""`hinge simulate`: write a simulated two-sensor set (CSV interchange) and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

from hinge.analysis.faults import FaultLimits, classify
from hinge.analysis.report import plural
from hinge.commands._shared import add_fault_argument, parse_faults
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import CLEAN, EXERCISES, REALISTIC, SimConfig, simulate_set

HELP = "simulate a set of hip hinges from two sensors with known ground truth"


def add_arguments(p) -> None:
    p.add_argument("--exercise", choices=EXERCISES, default="deadlift")
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="CSV interchange file to write")
    p.add_argument("--truth", help="write the true per-rep values (analyzer JSON terms) here")
    p.add_argument("--realistic", action="store_true", help="cheaper sensors, strap wobble, lost bursts, time offset")
    add_fault_argument(p)
    p.add_argument("--rate", type=float, help="sample rate of both sensors, Hz (default: each picks 50–200)")


def config_from_args(args) -> SimConfig:
    faults = parse_faults(args.fault)
    rates = {"sacrum": args.rate, "thoracic": args.rate} if args.rate else None
    return SimConfig(
        exercise=args.exercise,
        reps=args.reps,
        seed=args.seed,
        errors=REALISTIC if args.realistic else CLEAN,
        faults=faults,
        rates_hz=rates,
    )


def truth_json(sim, limits: FaultLimits | None = None) -> dict:
    """The simulator's truth with faults classified from the true values (same limits as the analyzer)."""
    truth = dict(sim.truth)
    counts: dict[str, int] = {}
    reps = []
    for rep in truth["reps"]:
        faults = [] if rep["gap"] else classify(rep, limits or FaultLimits())
        for f in faults:
            counts[f["kind"]] = counts.get(f["kind"], 0) + 1
        reps.append({**rep, "faults": faults})
    truth["reps"] = reps
    truth["summary"] = {"n_reps": len(reps), "faults": counts}
    return truth


def run(args) -> int:
    sim = simulate_set(config_from_args(args))
    write_csv(args.out, sim.series)
    if args.truth:
        truth = truth_json(sim)
        truth["input"] = str(args.out)
        Path(args.truth).write_text(json.dumps(truth, indent=2) + "\n")
    print(
        f"wrote {args.out}: {plural(sim.truth['summary']['n_reps'], f'{args.exercise} rep')}, "
        + ", ".join(
            f"{n} {len(s)} samples @ {sim.truth['sensors'][n]['rate_hz']:.0f} Hz" for n, s in sim.series.items()
        )
    )
    return 0
