"""Speed of `hinge analyze` end to end on a simulated 60-minute two-sensor set at 200 Hz.

    python bench/analyze_speed.py [--minutes 60] [--rate 200] [--keep DIR]

Prints wall time and samples/s of the whole analysis (CSV read → fusion → calibration → angles → reps
→ faults → JSON) in-process and as a fresh `hinge analyze` process, beside the floor: VQF's own batch
update (online) and offlineVQF alone on the same samples; and the peak memory (tracemalloc peak of the
in-process run and the process's max RSS). Target: whole analysis < 3 s (≥ 500k samples/s).

The headline ratio: `hinge analyze` end to end in a fresh process (interpreter start, imports, parsing,
analysis, JSON) over the reference "read the file with pandas, then offlineVQF on both sensors", both
timed in this run. Target ≤ 1.5×.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--keep", help="directory to keep / reuse the generated CSV in")
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

    # the reference: pandas reads the file, offlineVQF fuses both sensors
    t1 = time.perf_counter()
    df = pd.read_csv(path)
    for _name, rows in df.groupby("sensor", sort=False):
        t_s = rows["t"].to_numpy()
        acc = np.ascontiguousarray(rows[["ax", "ay", "az"]].to_numpy())
        gyr = np.ascontiguousarray(rows[["gx", "gy", "gz"]].to_numpy())
        offlineVQF(gyr, acc, None, float(np.median(np.diff(t_s))))
    t_reference = time.perf_counter() - t1

    # a fresh process, as a user runs it
    t1 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hinge", "analyze", str(path), "--json", "--out", str(d / "out.json"), "--no-history"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    t_cli = time.perf_counter() - t1
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"set: {args.minutes:g} min, 2 sensors at {args.rate:g} Hz = {n} samples, {out['summary']['n_reps']} reps")
    print(f"{'step':38s} {'seconds':>8s} {'samples/s':>12s}")
    for name, sec in (
        ("hinge analyze, in-process (total)", t_total),
        ("  of which CSV read", t_read),
        ("  of which analysis", t_total - t_read),
        ("hinge analyze, fresh process", t_cli),
        ("floor: VQF updateBatch (online)", t_online),
        ("floor: offlineVQF", t_offline),
        ("reference: pandas read + offlineVQF", t_reference),
    ):
        print(f"{name:38s} {sec:8.2f} {n / sec:12,.0f}")
    print(f"ratio analysis (after reading) / offlineVQF alone: {(t_total - t_read) / t_offline:.2f}x")
    ratio = t_cli / t_reference
    print(f"RATIO end to end (fresh `hinge analyze` process) / (pandas read + offlineVQF, both sensors): "
          f"{ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    t_an = t_total - t_read
    print(f"target whole analysis < 3 s: after reading {t_an:.2f} s ({'met' if t_an < 3 else 'NOT met'}); "
          f"with CSV parsing {t_total:.2f} s ({'met' if t_total < 3 else 'NOT met'}); fresh process incl. "
          f"interpreter and imports {t_cli:.2f} s ({'met' if t_cli < 3 else 'NOT met'})")
    print(f"peak memory: tracemalloc {peak / 1e6:.0f} MB (in-process), max RSS of the CLI process {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
