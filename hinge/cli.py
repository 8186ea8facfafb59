"""Command line: `hinge <command> ...`. Thin: parses arguments, composes library objects.

Each command lives in `hinge/commands/<name>.py` exposing `HELP: str`, `add_arguments(parser)` and
`run(args) -> int`; a command module imports its heavy parts inside `run`. Errors the user can fix
are raised as `hinge.errors.UserError` and printed as one
line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# One BLAS thread, set before numpy loads: the analysis's matrix products are small (≤ ~1100 × 1100), and
# after each one OpenBLAS's worker threads spin for a while, taking a core from the fusion process running
# beside them (~0.2 s of CPU on a 60-min set, results unchanged). A value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hinge import __version__
from hinge.analysis.errors import AnalysisError
from hinge.errors import UserError
from hinge.sensing.errors import InputError

COMMANDS = ("demo", "analyze", "report", "history", "simulate", "scan", "record", "live", "replay", "export", "config")


def _load(name: str):
    try:
        return importlib.import_module(f"hinge.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"hinge.commands.{name}":
            return None
        raise


def _command_in(argv: list[str] | None) -> str | None:
    """The command named on the command line (the first argument that is not an option), if any."""
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; when argv names a command, only that command's module is imported (the others get
    a bare entry): `hinge analyze` never imports the live window, bleak or the simulator."""
    wanted = _command_in(argv)
    parser = argparse.ArgumentParser(
        prog="hinge",
        description="Two-IMU hip-hinge coach: pelvis tuck, trunk behind vertical and spine rounding, per rep.",
    )
    parser.add_argument("--version", action="version", version=f"hinge {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if wanted is not None and name != wanted:
            sub.add_parser(name)
            continue
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (UserError, InputError, AnalysisError) as exc:
        print(f"hinge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hinge {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`hinge analyze … | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
