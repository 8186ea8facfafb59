"""`hinge replay FILE`: a recorded set (or CSV interchange file) played back in the live window."""

from __future__ import annotations

from hinge.commands._shared import EXERCISES, add_view_arguments, check_duration, present, settings_from_args
from hinge.errors import UserError
from hinge.userconfig import LIMITS_FROM_RECORDING, judging_limits, recording_header

HELP = "replay a recording (or CSV file) in the live window: play/pause, speed, seek"


def add_arguments(p) -> None:
    p.add_argument("input", help="hinge recording (.jsonl / .jsonl.gz) or CSV interchange file")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed (1 = real time; 0 = as fast as possible)")
    p.add_argument("--exercise", choices=EXERCISES, help="exercise (default: from the recording)")
    p.add_argument("--athlete", default="", help="whose settings judge the set (default: the recording's athlete)")
    p.add_argument(LIMITS_FROM_RECORDING, action="store_true",
                   help="judge with the limits the recording stores (default: the settings of the set's athlete)")
    add_view_arguments(p)


def run(args) -> int:
    check_duration(args)
    if args.speed < 0:
        raise UserError(f"--speed {args.speed:g}: expected a positive factor, or 0 for as fast as possible")
    from hinge.session import Session
    from hinge.sources import replay_source

    base, athlete = judging_limits(
        args.input, recording_header(args.input), args.athlete, from_recording=args.limits_from_recording
    )
    settings = settings_from_args(args, base=base)
    source = replay_source(args.input, speed=args.speed or None)
    exercise = args.exercise or getattr(source, "exercise", None) or "unknown"
    session = Session(source, exercise=exercise, settings=settings, athlete=athlete, swap=args.swap)
    return present(session, args, title=f"hinge replay · {source.label}")
