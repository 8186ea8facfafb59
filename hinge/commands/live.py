"""`hinge live`: stream two sensors, see the angles and get the cue at the top of each rep (records too)."""

from __future__ import annotations

import sys

from hinge.commands._shared import (
    DEFAULT_PATH_HELP,
    EXERCISES,
    add_adapter_argument,
    add_check_argument,
    add_view_arguments,
    check_duration,
    make_source,
    present,
    recording_path,
    settings_from_args,
)
from hinge.history import add_history_arguments, store_recording
from hinge.inputs import check_recording_out
from hinge.sensing.profiles import DEFAULT_PROFILE
from hinge.userconfig import fill_sensor_options

HELP = "stream two sensors live: angles, reps and cues in a window (records the set too)"


def add_arguments(p) -> None:
    p.add_argument("--sacrum", metavar="ADDR", help="address of the sensor on the sacrum")
    p.add_argument("--thoracic", metavar="ADDR", help="address of the sensor between the shoulder blades")
    p.add_argument("--profile",
                   help=f"firmware profile of both sensors (default: the settings file's, else {DEFAULT_PROFILE})")
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate to configure (default: the profile's nominal)")
    p.add_argument("--exercise", choices=EXERCISES, default="unknown")
    p.add_argument("--label", default="", help="label stored in the recording")
    p.add_argument("--out", metavar="FILE",
                   help=f"recording to write, .jsonl or .jsonl.gz (default: {DEFAULT_PATH_HELP})")
    p.add_argument("--no-record", action="store_true", help="do not record the set")
    p.add_argument(
        "--emulated",
        action="store_true",
        help="no radio: two emulated BLE sensors stream a simulated set (addresses optional)",
    )
    add_adapter_argument(p)
    add_check_argument(p)
    add_view_arguments(p)
    add_history_arguments(p, athlete=True)


def run(args) -> int:
    from hinge.session import Session

    check_duration(args)
    if args.out and not args.no_record:
        check_recording_out(args.out, "--out")  # before anything connects
    fill_sensor_options(args)  # --athlete's (or the default) profile, rate and addresses where not given
    settings = settings_from_args(args)
    source = make_source(args)
    out = None if args.no_record else recording_path(args)
    session = Session(
        source, exercise=args.exercise, settings=settings, record_to=out, label=args.label, athlete=args.athlete,
        swap=args.swap, placement_check=not args.no_check,
    )
    if out is not None:
        print(f"recording to {out}", file=sys.stderr)
    rc = present(session, args, title=f"hinge live · {args.exercise}")
    if rc == 0 and out is not None and out.exists():
        store_recording(args, out, settings, swap=session.analysis_swapped)  # "Swap sensors" pressed: as shown
    return rc
