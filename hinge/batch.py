"""Batch analysis: many files on a local process pool or a Dask cluster, results in input order.

Each file is one job (`analyse_job`): it returns the analysed set (plain data, no traces) or a one-line
error, so one bad file never stops the batch. Whichever engine ran the jobs, the results are put back in
input order, so the per-rep table is the same byte for byte.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from hinge.analysis.errors import AnalysisError
from hinge.analysis.pipeline import Settings
from hinge.errors import UserError
from hinge.sensing.errors import InputError
from hinge.sets import AnalysedSet, analyse_file

INPUT_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class Job:
    path: str
    settings: Settings
    exercise: str | None = None
    athlete: str = ""
    date: str = ""
    swap: bool = False


@dataclass
class Outcome:
    """One job's result: `aset` or a one-line `error`; seconds: the job's own run time where it ran."""

    path: str
    aset: AnalysedSet | None = None
    error: str | None = None
    seconds: float = 0.0


def expand_inputs(items: Sequence[str]) -> list[str]:
    """Files named by the arguments, in order, once each: a folder gives its input files (recursively,
    sorted), a glob pattern its matches (sorted), a path itself."""
    out: list[str] = []
    for item in items:
        if Path(item).is_dir():
            found = sorted(str(p) for p in Path(item).rglob("*") if p.is_file() and _is_input(p.name))
            if not found:
                raise UserError(f"{item}: folder holds no .csv or .jsonl[.gz] files")
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                raise UserError(f"{item}: pattern matches no files")
        else:
            found = [item]
        out += found
    return list(dict.fromkeys(out))


def _is_input(name: str) -> bool:
    return name.lower().endswith(INPUT_SUFFIXES)


def analyse_job(job: Job) -> Outcome:
    """Analyse one file; errors the user can act on (and any other) become a one-line message."""
    t0 = time.perf_counter()
    try:
        aset = analyse_file(job.path, job.settings, exercise=job.exercise, athlete=job.athlete, date=job.date,
                            swap=job.swap)
        return Outcome(job.path, aset=aset, seconds=time.perf_counter() - t0)
    except (UserError, InputError, AnalysisError) as exc:
        return Outcome(job.path, error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the batch
        return Outcome(job.path, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)


def run_local(jobs: Sequence[Job], n_procs: int, on_done: Callable[[Outcome], None]) -> list[Outcome]:
    """Run the jobs on a process pool of n_procs (1: in this process); on_done per finished job."""
    if n_procs <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(analyse_job(job))
            on_done(out[-1])
        return out
    # fork where there is one: workers start at once with everything imported
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(min(n_procs, len(jobs)), mp_context=ctx) as pool:
        return _in_order(jobs, {pool.submit(analyse_job, job): i for i, job in enumerate(jobs)}, as_completed, on_done)


def run_dask(jobs: Sequence[Job], address: str, on_done: Callable[[Outcome], None]) -> list[Outcome]:
    """Run the jobs on the Dask cluster at address (its workers must see the same file paths)."""
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise UserError("--dask needs dask.distributed: pip install 'hinge[dask]'") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"--dask {address}: cannot reach the Dask scheduler ({exc})") from None
    with client:
        futures = client.map(analyse_job, list(jobs), pure=False)
        return _in_order(jobs, {f: i for i, f in enumerate(futures)}, dask_completed, on_done)


def _in_order(jobs, index_of: dict, completed: Callable[..., Iterator], on_done) -> list[Outcome]:
    out: list[Outcome | None] = [None] * len(jobs)
    for fut in completed(list(index_of)):
        outcome = fut.result()
        out[index_of[fut]] = outcome
        on_done(outcome)
    return out  # type: ignore[return-value]


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def progress(total: int):
    """A progress bar on stderr (tqdm; hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the pool forks from this process
    return tqdm(total=total, unit="set", file=sys.stderr, disable=None, dynamic_ncols=True)
