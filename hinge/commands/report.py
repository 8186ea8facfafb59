"""`hinge report INPUT`: the whole set as one self-contained HTML page, a PNG and/or a PDF."""

from __future__ import annotations

import sys
from pathlib import Path

from hinge.commands._shared import (
    EXERCISES,
    add_limit_argument,
    add_set_arguments,
    add_swap_argument,
    settings_from_args,
)
from hinge.errors import UserError
from hinge.history import add_history_arguments, store
from hinge.report import write_report
from hinge.sets import analyse_file, parse_date
from hinge.userconfig import LIMITS_FROM_RECORDING, judging_limits, recording_header

HELP = "write a report of a set: traces with fault bands, per-rep table, faults, cues, calibration, sensors"


def add_arguments(p) -> None:
    p.add_argument("input", help="CSV interchange file or hinge recording (.jsonl / .jsonl.gz)")
    p.add_argument(
        "--html", metavar="OUT", help="self-contained HTML page (default when no output is given: INPUT's name + .html)"
    )
    p.add_argument("--png", metavar="OUT", help="PNG image of the whole report")
    p.add_argument("--pdf", metavar="OUT", help="PDF page of the whole report")
    p.add_argument("--exercise", choices=EXERCISES, help="exercise (default: from the recording, else unknown)")
    add_set_arguments(p)
    add_limit_argument(p)
    add_swap_argument(p)
    p.add_argument(LIMITS_FROM_RECORDING, action="store_true",
                   help="judge with the limits the recording stores (default: the settings of the set's athlete)")
    p.add_argument("--online", action="store_true", help="use causal (live) fusion instead of offline smoothing")
    add_history_arguments(p)


def default_html(input_path: str) -> Path:
    name = Path(input_path).name
    for suffix in (".jsonl.gz", ".jsonl", ".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(name + ".html")


def run(args) -> int:
    if not Path(args.input).is_file():
        raise UserError(f"{args.input}: no such file; expected a .csv interchange file or a .jsonl[.gz] recording")
    html_out = args.html
    if not (args.html or args.png or args.pdf):
        html_out = default_html(args.input)
    date = parse_date(args.date) if args.date else ""
    base, athlete = judging_limits(
        args.input, recording_header(args.input), args.athlete, from_recording=args.limits_from_recording
    )
    aset = analyse_file(
        args.input, settings_from_args(args, base=base), exercise=args.exercise, athlete=athlete, date=date,
        keep_frames=True, swap=args.swap,
    )
    for path in write_report(aset, html_out=html_out, png_out=args.png, pdf_out=args.pdf):
        print(f"wrote {path}")
    for w in aset.result["warnings"]:
        print(f"hinge report: warning: {w}", file=sys.stderr)
    store(args, [aset])
    return 0
