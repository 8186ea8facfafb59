"""`hinge export FILE --csv OUT | --parquet OUT`: a recording's decoded samples in the interchange table."""

from __future__ import annotations

from hinge.commands._shared import add_swap_argument
from hinge.errors import UserError
from hinge.inputs import load_samples
from hinge.sensing.csvio import write_csv, write_parquet

HELP = "export a recording's samples as CSV interchange (or Parquet, same columns)"


def add_arguments(p) -> None:
    p.add_argument("input", help="hinge recording (.jsonl / .jsonl.gz) or CSV interchange file")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", metavar="OUT", help="write the CSV interchange file (docs/ARCHITECTURE.md §5)")
    out.add_argument("--parquet", metavar="OUT", help="write the same table as Parquet")
    add_swap_argument(p)


def run(args) -> int:
    samples = load_samples(args.input, swap=args.swap)
    if args.csv:
        write_csv(args.csv, samples)
        out = args.csv
    else:
        try:
            write_parquet(args.parquet, samples)
        except ImportError as exc:
            raise UserError(f"--parquet needs pyarrow ({exc})") from None
        out = args.parquet
    n = {name: len(s) for name, s in samples.items()}
    print(f"wrote {out}: " + ", ".join(f"{name} {k} samples" for name, k in n.items()))
    return 0
