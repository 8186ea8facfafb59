"""`hinge export FILE --csv OUT | --parquet OUT`: a recording's decoded samples in the interchange table."""

from __future__ import annotations

from pathlib import Path

from hinge.commands._shared import add_swap_argument
from hinge.errors import UserError
from hinge.inputs import exercise_of, load_samples
from hinge.sensing.csvio import write_csv, write_parquet

HELP = "export a recording's samples as CSV interchange (or Parquet, same columns), keeping the exercise"


def add_arguments(p) -> None:
    p.add_argument("input", help="hinge recording (.jsonl / .jsonl.gz), CSV interchange file or its Parquet form")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", metavar="OUT", help="write the CSV interchange file (docs/ARCHITECTURE.md §5)")
    out.add_argument("--parquet", metavar="OUT", help="write the same table as Parquet")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_swap_argument(p)


def run(args) -> int:
    option, out = ("--csv", args.csv) if args.csv else ("--parquet", args.parquet)
    if Path(out).exists() and not args.force:
        raise UserError(f"{option} {out}: file exists; add --force to overwrite it")
    samples = load_samples(args.input, swap=args.swap)
    exercise = exercise_of(args.input)
    exercise = exercise if exercise and exercise != "unknown" else None
    if args.csv:
        write_csv(out, samples, exercise=exercise)
    else:
        try:
            write_parquet(out, samples, exercise=exercise)
        except ImportError as exc:
            raise UserError(f"--parquet needs pyarrow ({exc})") from None
    n = {name: len(s) for name, s in samples.items()}
    print(f"wrote {out}: " + ", ".join(f"{name} {k} samples" for name, k in n.items())
          + (f" ({exercise})" if exercise else ""))
    return 0
