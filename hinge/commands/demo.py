"""`hinge demo`: two simulated sensors through the whole live pipeline — no hardware needed.

By default the sensors are emulated BLE peripherals (Bumble, in-process) streaming a simulated set in
real time as real packet bytes, so the demo exercises the BLE client, decoding, timing, the tracker and
the window exactly as a live session does. `--source sim` skips the radio and paces the simulated
packets directly.
"""

from __future__ import annotations

from pathlib import Path

from hinge.commands._shared import (
    PLACEMENT_BEND_STAND_S,
    add_check_argument,
    add_fault_argument,
    add_view_arguments,
    check_duration,
    parse_faults,
    present,
    settings_from_args,
)
from hinge.errors import UserError
from hinge.sensing.profiles import DEFAULT_PROFILE
from hinge.sensing.simulator import EXERCISES

HELP = "run two simulated sensors through the whole live pipeline (no sensors needed)"


def add_arguments(p) -> None:
    p.add_argument("--exercise", choices=EXERCISES, default="deadlift")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--seed", type=int, default=6, help="simulation seed")
    p.add_argument("--rate", type=float, default=200.0, metavar="HZ", help="sample rate of both sensors")
    add_fault_argument(p)
    p.add_argument(
        "--source", choices=("emulated", "sim"), default="emulated",
        help="emulated: through the emulated BLE link (default); sim: paced simulated packets, no radio",
    )
    p.add_argument("--speed", type=float, default=1.0, help="playback speed of --source sim (1 = real time)")
    p.add_argument("--out", metavar="FILE", help="also record the demo set to this file")
    add_check_argument(p)
    add_view_arguments(p)


def run(args) -> int:
    check_duration(args)
    if args.reps < 1:
        raise UserError(f"--reps {args.reps}: expected at least 1")
    if not args.speed > 0:
        raise UserError(f"--speed {args.speed:g}: expected a positive factor")
    from hinge.session import Session
    from hinge.sources import simulated_set, simulated_source

    faults = parse_faults(args.fault)
    check = not args.no_check
    sim = simulated_set(args.exercise, reps=args.reps + check, seed=args.seed, rate_hz=args.rate, faults=faults,
                        first_dwell_s=PLACEMENT_BEND_STAND_S if check else None)  # rep 1: the placement bend
    if args.source == "emulated":
        from hinge.sensing.emulated_source import EmulatedSource
        from hinge.sensing.profiles import load

        source = EmulatedSource(sim, load(DEFAULT_PROFILE))
    else:
        source = simulated_source(sim, speed=args.speed)
    session = Session(source, exercise=args.exercise, settings=settings_from_args(args),
                      record_to=Path(args.out) if args.out else None, label=f"SIMULATED demo {args.exercise} set",
                      swap=args.swap, placement_check=check)
    return present(session, args, title=f"hinge demo · simulated {args.exercise} ({args.source})")
