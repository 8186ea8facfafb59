"""`hinge simulate`: write a simulated two-sensor set (CSV interchange) and its ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hinge.analysis.faults import FaultLimits, classify
from hinge.analysis.report import plural
from hinge.commands._shared import add_fault_argument, parse_faults
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import CLEAN, EXERCISES, REALISTIC, SIM_STAGES, SimConfig, simulate_set

HELP = "simulate a set of hip hinges from two sensors with known ground truth"
CSV_STEPS = 10  # progress steps while writing the CSV (as many as the simulation's own stages, about its time)


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
    from tqdm import tqdm

    # progress on stderr (hidden when it is not a terminal): the simulation's stages, then the rows written
    with tqdm(total=len(SIM_STAGES) + CSV_STEPS, file=sys.stderr, disable=None, unit="step", desc="simulating",
              dynamic_ncols=True, mininterval=0) as bar:  # 15 steps: draw each

        def stage(name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        sim = simulate_set(config_from_args(args), progress=stage)
        bar.set_description("writing")
        written = [0]

        def rows(done: int, total: int) -> None:
            step = CSV_STEPS * done // max(total, 1)
            bar.update(step - written[0])
            written[0] = step

        write_csv(args.out, sim.series, progress=rows)
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
