"""`hinge analyze INPUT`: per-rep depth, top angles, rounding and faults of a recorded set."""

from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analysis.pipeline import Settings, analyze
from analysis.report import format_report
from hinge.commands._shared import EXERCISES, add_limit_argument, parse_limits
from hinge.inputs import exercise_of, load_samples

HELP = "analyse a recorded set (CSV interchange or recording): reps, angles, faults"
PARALLEL_ABOVE_SAMPLES = 300_000  # ~12 min of two 200 Hz sensors: below, a process pool costs more than it saves


def add_arguments(p) -> None:
    p.add_argument("input", help="CSV interchange file or hinge recording (.jsonl / .jsonl.gz)")
    p.add_argument("--exercise", choices=EXERCISES, help="exercise (default: from the recording, else unknown)")
    p.add_argument("--json", action="store_true", help="print the analyzer JSON instead of the table")
    p.add_argument("--out", help="also write the analyzer JSON to this file")
    add_limit_argument(p)
    p.add_argument("--online", action="store_true", help="use causal (live) fusion instead of offline smoothing")


def analyze_samples(samples, **kw):
    """`analyze`, fusing the two sensors in parallel processes when the set is long."""
    n = sum(len(s.t) for s in samples.values())
    if n < PARALLEL_ABOVE_SAMPLES:
        return analyze(samples, **kw)
    return analyze(samples, mapper=_forked_map, **kw)


_JOBS: list = []


def _forked_map(fn, jobs) -> list:
    """map(fn, jobs) in forked worker processes that inherit the jobs' arrays (nothing is pickled on the
    way in; only the results come back)."""
    global _JOBS
    _JOBS = list(jobs)
    try:
        with ProcessPoolExecutor(len(_JOBS), mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_job, [(fn, i) for i in range(len(_JOBS))]))
    finally:
        _JOBS = []


def _run_job(arg):
    fn, i = arg
    return fn(_JOBS[i])


def run(args) -> int:
    exercise = args.exercise or exercise_of(args.input) or "unknown"
    samples = load_samples(args.input)
    settings = Settings(limits=parse_limits(args.limit), offline=not args.online)
    result = analyze_samples(samples, exercise=exercise, settings=settings).to_json(str(args.input))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(format_report(result, title=f"hinge analyze {args.input}"))
    for w in result["warnings"]:
        print(f"hinge analyze: warning: {w}", file=sys.stderr)
    return 0
