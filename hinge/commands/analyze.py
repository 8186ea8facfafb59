"""`hinge analyze INPUT`: per-rep depth, top angles, rounding and faults of a recorded set."""

from __future__ import annotations

import contextlib
import glob
import importlib
import json
import os
import pickle
import struct
import sys
import threading
from pathlib import Path

import numpy as np

from hinge.analysis.core import LOWPASS_LIBRARY
from hinge.analysis.pipeline import analyze
from hinge.analysis.report import format_report, plural
from hinge.commands._shared import (
    EXERCISES,
    add_limit_argument,
    add_samples_argument,
    add_set_arguments,
    add_swap_argument,
    settings_from_args,
)
from hinge.errors import UserError
from hinge.history import add_history_arguments, store
from hinge.sensing.errors import InputError
from hinge.sets import analyse_file, check_table_path, fault_totals, parse_date, rep_rows, rep_table, write_table
from hinge.userconfig import LIMITS_FROM_RECORDING, judging_limits, recording_header
from hinge.userconfig import load as load_user_settings

HELP = "analyse a recorded set (CSV interchange or recording): reps, angles, faults"
PARALLEL_ABOVE_SAMPLES = 300_000  # ~12 min of two 200 Hz sensors: below, a fork costs more than it saves


def add_arguments(p) -> None:
    p.add_argument(
        "input",
        nargs="+",
        help="CSV interchange file (or its .parquet form) or hinge recording (.jsonl / .jsonl.gz); for a batch: "
        "several files, folders "
        "or glob patterns",
    )
    p.add_argument("--exercise", choices=EXERCISES, help="exercise (default: from the recording, else unknown)")
    p.add_argument("--json", action="store_true", help="print the analyzer JSON instead of the table (one input)")
    p.add_argument("--out", help="also write the analyzer JSON to this file (one input)")
    add_limit_argument(p)
    p.add_argument(LIMITS_FROM_RECORDING, action="store_true",
                   help="judge with the limits the recording stores (default: the settings of the set's athlete)")
    p.add_argument("--online", action="store_true", help="use causal (live) fusion instead of offline smoothing")
    add_samples_argument(p)
    add_swap_argument(p)
    add_set_arguments(p)
    b = p.add_argument_group("batch (several inputs, a folder or a pattern)")
    b.add_argument("--table", metavar="OUT", help="write every rep of every set to this .parquet or .csv file")
    b.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: all cores)")
    b.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler (e.g. tcp://host:8786) instead")
    add_history_arguments(p)


def analyze_samples(samples, **kw):
    """`analyze`, fusing the two sensors at the same time (one in a forked process) when the set is long."""
    n = sum(len(s.t) for s in samples.values())
    if n < PARALLEL_ABOVE_SAMPLES or not hasattr(os, "fork"):
        return analyze(samples, **kw)
    return analyze(samples, mapper=_forked_map, **kw)


def _forked_map(fn, jobs) -> list:
    """map(fn, jobs) with every job but the last in a forked child and the last in this process, all at
    once (fusion holds the GIL: threads would take turns). A child inherits its job's arrays (nothing is
    pickled on the way in) and sends its result back through a pipe: a small pickled header, then an
    array's raw bytes, read straight into the array this process keeps (a pickle of a large array costs
    two more copies and their page faults). A child's exception is raised here."""
    jobs = list(jobs)
    children = [_fork_job(fn, job) for job in jobs[:-1]]
    try:
        last = fn(jobs[-1]) if jobs else None
        return [*(_receive(fd) for _, fd in children), *([last] if jobs else [])]
    finally:
        for pid, fd in children:
            os.close(fd)
            os.waitpid(pid, 0)


def _fork_job(fn, job) -> tuple[int, int]:
    """(pid, read end of its pipe) of a child that runs fn(job), sends the result or its exception
    (`_send`) and exits."""
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)
        return pid, r
    try:
        os.close(r)
        try:
            result = fn(job)
        except BaseException as exc:  # the parent raises it
            result = exc
        _send(w, result)
    finally:
        os._exit(0)  # no atexit handlers, no flush of the parent's buffered output; a failed send is a short pipe


_HEADER = struct.Struct("<Q")


def _send(fd: int, result) -> None:
    """A result through a pipe: the length of a pickled header, the header — ('array', shape, dtype) for a
    numpy array, whose raw bytes follow, else ('object', result) — then the bytes."""
    array = isinstance(result, np.ndarray)
    if array:
        result = np.ascontiguousarray(result)
    header = pickle.dumps(("array", result.shape, result.dtype.str) if array else ("object", result))
    _write_all(fd, memoryview(_HEADER.pack(len(header)) + header))
    if array:
        _write_all(fd, memoryview(result).cast("B"))
    os.close(fd)


def _write_all(fd: int, view: memoryview) -> None:
    """All of view's bytes to fd (a pipe takes them a part at a time)."""
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int):
    """The result a child sent (`_send`); an exception it sent is raised."""
    header = pickle.loads(_read_exactly(fd, _HEADER.unpack(_read_exactly(fd, _HEADER.size))[0]))
    if header[0] == "object":
        if isinstance(header[1], BaseException):
            raise header[1]
        return header[1]
    out = np.empty(header[1], dtype=np.dtype(header[2]))
    _read_exactly(fd, out.nbytes, into=memoryview(out).cast("B"))
    return out


def _read_exactly(fd: int, n: int, into: memoryview | None = None):
    """n bytes from fd, into a buffer when given (else returned as bytes); a short read (the child died
    before sending it all) is a RuntimeError."""
    buf = into if into is not None else memoryview(bytearray(n))
    got = 0
    while got < n:
        k = os.readv(fd, [buf[got:]])
        if not k:
            raise RuntimeError("a fusion worker process ended without sending its result")
        got += k
    return into if into is not None else bytes(buf)


def run(args) -> int:
    batch = (
        args.table or args.dask or len(args.input) > 1 or any(Path(i).is_dir() or glob.has_magic(i) for i in args.input)
    )
    if batch:
        return run_batch(args)
    (path,) = args.input
    date = parse_date(args.date) if args.date else ""
    base, athlete = judging_limits(
        path, recording_header(path), args.athlete, from_recording=args.limits_from_recording
    )
    importing = _import_in_background(LOWPASS_LIBRARY)  # the low-pass's library, while the input is read

    def analyse(samples, **kw):
        importing.join()  # done before the fusion forks: a child must not inherit a half-held import lock
        return analyze_samples(samples, **kw)

    aset = analyse_file(
        path, settings_from_args(args, base=base), exercise=args.exercise, athlete=athlete, date=date,
        analyse=analyse, swap=args.swap, identify=not args.no_history,
    )
    result = aset.result
    text = json.dumps(result, indent=2) if args.out or args.json else ""  # made once for both
    if args.out:
        write_json(args.out, text)
    if args.json:
        print(text)  # one write (json.dump writes each token: ~70 k writes for 1000 reps)
    else:
        print(format_report(result, title=f"hinge analyze {path}"))
    for w in result["warnings"]:
        print(f"hinge analyze: warning: {w}", file=sys.stderr)
    store(args, [aset])
    return 0


def _import_in_background(name: str) -> threading.Thread:
    """Import a module the analysis imports late on a thread, started before the input is read: pyarrow's
    CSV parser releases the GIL, so scipy.ndimage's ~0.2-s import (the low-pass) overlaps the parsing
    instead of following it. A failed import is left to the analysis, which raises it where it imports."""

    def run() -> None:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    thread = threading.Thread(target=run, name=f"import {name}", daemon=True)
    thread.start()
    return thread


def _file_settings(args, path, config) -> tuple:
    """(settings, exercise, athlete) of one file of a batch: each set is judged by its own athlete's settings
    (an unreadable file gets the --athlete ones here and its error from the worker)."""
    try:
        header = recording_header(path)
    except (InputError, UserError):
        return settings_from_args(args, base=config.limits(args.athlete)), args.exercise, args.athlete
    base, athlete = judging_limits(path, header, args.athlete, from_recording=args.limits_from_recording,
                                   config=config)
    return settings_from_args(args, base=base), args.exercise, athlete


def write_json(out: str, text: str) -> None:
    """--out: the analyzer JSON (`json.dumps(result, indent=2)`), its folder made when missing; a place that
    cannot be written is one line."""
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def run_batch(args) -> int:
    """Many files on a process pool or a Dask cluster: a progress bar, one line per failed file, the rep
    table; 1 when some file failed."""
    from hinge import batch

    if args.json or args.out:
        raise UserError("--json and --out take one input; use --table for a batch")
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: expected a number of processes ≥ 1")
    if args.table:
        check_table_path(args.table)
    date = parse_date(args.date) if args.date else ""
    files = batch.expand_inputs(args.input)
    config = load_user_settings()
    jobs = [batch.Job(f, *_file_settings(args, f, config), date=date, swap=args.swap) for f in files]
    bar = batch.progress(len(jobs))

    def done(outcome) -> None:
        bar.update(1)
        if outcome.error:
            bar.write(f"hinge analyze: error: {outcome.error}", file=sys.stderr)

    with bar:
        if args.dask:
            outcomes = batch.run_dask(jobs, args.dask, done)
        else:
            outcomes = batch.run_local(jobs, args.jobs or batch.default_jobs(), done)
    sets = [o.aset for o in outcomes if o.aset is not None]
    if not args.table:
        for s in sets:
            print(f"{s.info.file}: {fault_totals(s.result)}")
    rows = [row for s in sets for row in rep_rows(s.info, s.reps)]
    if args.table:
        write_table(rep_table(rows), args.table)
    failed = len(outcomes) - len(sets)
    print(
        f"analysed {len(sets)} of {plural(len(outcomes), 'set')}, {plural(len(rows), 'rep')}"
        + (f"; {failed} failed" if failed else "")
        + (f"; table: {args.table}" if args.table else "")
    )
    store(args, sets)
    return 1 if failed else 0
