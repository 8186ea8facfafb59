"""Speed of `hinge analyze` end to end on a simulated 60-minute two-sensor set at 200 Hz.

    python bench/analyze_speed.py [--minutes 60] [--rate 200] [--keep DIR]

Prints wall time and samples/s of the whole analysis (CSV read → fusion → calibration → angles → reps
→ faults → JSON) in-process and as a fresh `hinge analyze` process, beside the floor: VQF's own batch
update (online) and offlineVQF alone on the same samples; and the peak memory (tracemalloc peak of the
in-process run and the process's max RSS). Target: whole analysis < 3 s (≥ 500k samples/s).

The headline ratio: `hinge analyze` end to end in a fresh process (interpreter start, imports, parsing,
analysis, JSON; wall time of the process) over the reference "read the file with pandas, then
offlineVQF on both sensors" (timed from inside its own fresh process, after its imports), both run
`--repeat` times in turn in this run; medians. Target ≤ 1.5×. The reference runs in a process of its
own because inside this one its time depended on the heap the in-process analysis had just left behind
(pages freed by us are pages the reference need not fault in: a leaner analysis made the reference
slower); the in-process figure is still printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from vqf import VQF, offlineVQF

from hinge.commands.analyze import analyze_samples
from hinge.sensing.csvio import read_csv, write_csv
from hinge.sensing.simulator import SimConfig, simulate_set


def make_set(path: Path, minutes: float, rate: float) -> None:
    reps = int(minutes * 60 / 3.3)  # a deadlift rep with its lockout takes ~3.3 s
    t0 = time.perf_counter()
    sim = simulate_set(SimConfig(exercise="deadlift", reps=reps, seed=1, rates_hz={"sacrum": rate, "thoracic": rate}))
    write_csv(path, sim.series)
    print(f"generated {path} ({reps} reps, {path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")


def _reference(path: Path) -> None:
    """The reference: pandas reads the file, offlineVQF fuses both sensors."""
    df = pd.read_csv(path)
    for _name, rows in df.groupby("sensor", sort=False):
        t_s = rows["t"].to_numpy()
        acc = np.ascontiguousarray(rows[["ax", "ay", "az"]].to_numpy())
        gyr = np.ascontiguousarray(rows[["gx", "gy", "gz"]].to_numpy())
        offlineVQF(gyr, acc, None, float(np.median(np.diff(t_s))))


# the reference in a fresh process: imports first, then only the work is timed (printed in seconds)
_REFERENCE_CHILD = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from analyze_speed import _reference
t0 = time.perf_counter()
_reference(Path(sys.argv[1]))
print(time.perf_counter() - t0)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--keep", help="directory to keep / reuse the generated CSV in")
    ap.add_argument("--repeat", type=int, default=3, help="fresh-process runs of each side (medians)")
    args = ap.parse_args()
    d = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hinge-bench-"))
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"set-{args.minutes:g}min-{args.rate:g}hz.csv"
    if not path.exists():
        make_set(path, args.minutes, args.rate)

    # in-process, end to end (timed without tracemalloc, which slows allocation-heavy numpy code)
    t0 = time.perf_counter()
    samples = read_csv(path)
    t_read = time.perf_counter() - t0
    result = analyze_samples(samples, exercise="deadlift")  # what `hinge analyze` runs (parallel fusion)
    out = result.to_json(str(path))
    json.dumps(out)
    t_total = time.perf_counter() - t0
    # peak Python-heap memory of the same run, measured separately
    tracemalloc.start()
    analyze_samples(read_csv(path), exercise="deadlift").to_json(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = sum(len(s.t) for s in samples.values())

    # the floor: VQF alone on the same samples (both sensors)
    t_online = t_offline = 0.0
    for s in samples.values():
        fs = 1.0 / np.median(np.diff(s.t))
        gyr, acc = np.ascontiguousarray(s.gyr), np.ascontiguousarray(s.acc)
        t1 = time.perf_counter()
        VQF(1.0 / fs).updateBatch(gyr, acc)
        t_online += time.perf_counter() - t1
        t1 = time.perf_counter()
        offlineVQF(gyr, acc, None, 1.0 / fs)
        t_offline += time.perf_counter() - t1

    # the reference in this process (after the in-process analysis: its time depends on that heap)
    t1 = time.perf_counter()
    _reference(path)
    t_reference_here = time.perf_counter() - t1

    # fresh processes, in turn: `hinge analyze` as a user runs it, and the reference timed inside its own
    cli, refs = [], []
    for _ in range(args.repeat):
        t1 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hinge", "analyze", str(path), "--json", "--out", str(d / "out.json"),
             "--no-history"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli.append(time.perf_counter() - t1)
        out_ref = subprocess.run(
            [sys.executable, "-c", _REFERENCE_CHILD, str(path)], check=True, capture_output=True, text=True
        )
        refs.append(float(out_ref.stdout.split()[-1]))
    t_cli, t_reference = float(np.median(cli)), float(np.median(refs))
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"set: {args.minutes:g} min, 2 sensors at {args.rate:g} Hz = {n} samples, {out['summary']['n_reps']} reps")
    print(f"{'step':62s} {'seconds':>8s} {'samples/s':>12s}")
    for name, sec in (
        ("hinge analyze, in-process (total)", t_total),
        ("  of which CSV read", t_read),
        ("  of which analysis", t_total - t_read),
        (f"hinge analyze, fresh process (median of {args.repeat})", t_cli),
        ("floor: VQF updateBatch (online)", t_online),
        ("floor: offlineVQF", t_offline),
        (f"reference: pandas read + offlineVQF (own process, median of {args.repeat})", t_reference),
        ("reference, in this process after the analysis", t_reference_here),
    ):
        print(f"{name:62s} {sec:8.2f} {n / sec:12,.0f}")
    print(f"ratio analysis (after reading) / offlineVQF alone: {(t_total - t_read) / t_offline:.2f}x")
    ratio = t_cli / t_reference
    runs = " ".join(f"{x:.2f}" for x in cli), " ".join(f"{x:.2f}" for x in refs)
    print(f"runs: hinge analyze {runs[0]} s; reference {runs[1]} s")
    print(f"RATIO end to end (fresh `hinge analyze` process) / (pandas read + offlineVQF, both sensors, own "
          f"process): {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}); against the "
          f"reference in this process: {t_cli / t_reference_here:.2f}x")
    t_an = t_total - t_read
    print(f"target whole analysis < 3 s: after reading {t_an:.2f} s ({'met' if t_an < 3 else 'NOT met'}); "
          f"with CSV parsing {t_total:.2f} s ({'met' if t_total < 3 else 'NOT met'}); fresh process incl. "
          f"interpreter and imports {t_cli:.2f} s ({'met' if t_cli < 3 else 'NOT met'})")
    print(f"peak memory: tracemalloc {peak / 1e6:.0f} MB (in-process), max RSS of the CLI process {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
