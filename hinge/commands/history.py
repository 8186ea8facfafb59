"""`hinge history`: the sets stored so far; trends of a rep metric or of fault counts; export."""

from __future__ import annotations

from pathlib import Path

from hinge.analysis.report import plural
from hinge.errors import UserError
from hinge.history import History, default_path
from hinge.sets import write_table
from hinge.trend import TREND_SUFFIXES, trend_names, write_trend

HELP = "list stored sets, draw a trend over time (--trend), export every rep (--export)"


def add_arguments(p) -> None:
    p.add_argument("--athlete", help="only this athlete's sets")
    p.add_argument("--exercise", help="only sets of this exercise")
    p.add_argument("--db", help=f"history database (default: {default_path()}, honouring XDG_DATA_HOME)")
    p.add_argument(
        "--trend",
        metavar="NAME",
        help=f"per-set median and range over time of a rep metric or fault count ({', '.join(trend_names())})",
    )
    p.add_argument("--out", help="--trend: picture to write, .png or .html (default: trend-NAME.png)")
    p.add_argument("--export", metavar="FILE", help="write every rep of the listed sets to a .csv or .parquet file")


def run(args) -> int:
    path = Path(args.db) if args.db else default_path()
    if not path.exists():
        raise UserError(f"history database {path}: no such file; analyse or record a set first (or give --db)")
    if args.out and not args.trend:
        raise UserError("--out goes with --trend NAME")
    if args.trend:
        out = Path(args.out or f"trend-{args.trend}.png")
        if out.suffix.lower() not in TREND_SUFFIXES:
            raise UserError(f"--out {out}: expected a file name ending in {' or '.join(TREND_SUFFIXES)}")
    with History(path) as db:
        sets = db.sets(athlete=args.athlete, exercise=args.exercise)
        reps = db.rep_table(athlete=args.athlete, exercise=args.exercise) if (args.trend or args.export) else None
    if sets.empty:
        print("no sets" + _filters(args))
        return 0
    if args.export:
        write_table(reps, args.export, option="--export")
        print(f"wrote {args.export}: {plural(len(reps), 'rep')} of {plural(len(sets), 'set')}")
    if args.trend:
        n = write_trend(reps, args.trend, out, title=f"{args.trend}{_filters(args)}")
        print(f"wrote {out}: {args.trend}, {n} sets")
    if not (args.trend or args.export):
        print(_listing(sets))
    return 0


def _filters(args) -> str:
    parts = [f"athlete {args.athlete}" if args.athlete else "", f"exercise {args.exercise}" if args.exercise else ""]
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def _listing(sets) -> str:
    lines = [f"{'date':<20}  {'athlete':<12}  {'exercise':<12}  reps  faults  file"]
    for r in sets.itertuples():
        lines.append(
            f"{(r.recorded_at or '?').replace('T', ' ').rstrip('Z'):<20}  {r.athlete or '—':<12}  {r.exercise:<12}  "
            f"{r.n_reps:>4}  {r.faults:>6}  {r.file}"
        )
    lines.append(f"{len(sets)} set{'s' if len(sets) != 1 else ''}")
    return "\n".join(lines)
