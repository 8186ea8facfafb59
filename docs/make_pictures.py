"""Regenerate the README pictures: docs/live-window.png, docs/report.png and docs/trend.png.

    python docs/make_pictures.py [live] [report] [trend]    (all three by default; the report
                                                             screenshot needs chromium on PATH)

live-window.png: `hinge replay` of the bundled deadlift recording (posterior pelvic tilt at lockout) as
fast as possible under Qt's offscreen platform, saved with `--screenshot` once the set is over: the
window as a lifter sees it after a set (the whole set, the reps, the cue of the last faulty rep).
report.png: the HTML report of the bundled swing recording, rendered by headless Chromium.
trend.png: `hinge history --trend trunk_top` over eight simulated weekly swing sessions of one athlete in
which the trunk leans back less each week (the simulator's fault magnitude and count go down).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from hinge.cli import main
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import SimConfig, simulate_set

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def live_window_png(tmp: Path) -> None:
    rec = ROOT / "recordings" / "deadlift-posterior-tilt.simulated.jsonl.gz"
    argv = ["replay", str(rec.relative_to(ROOT)), "--speed", "0", "--screenshot", str(DOCS / "live-window.png")]
    with contextlib.redirect_stdout(io.StringIO()):  # the terminal view printed alongside the offscreen window
        assert main(argv) == 0


def report_png(tmp: Path) -> None:
    page = tmp / "report.html"
    rec = ROOT / "recordings" / "swing-trunk-behind-vertical.simulated.jsonl.gz"
    assert main(["report", str(rec.relative_to(ROOT)), "--html", str(page), "--no-history"]) == 0
    shot = tmp / "shot.png"
    chromium = shutil.which("chromium") or "chromium"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2200", page.as_uri()],
        check=True, capture_output=True,
    )  # fmt: skip
    img = Image.open(shot).convert("RGB")
    rows = np.flatnonzero((np.asarray(img).min(axis=2) < 250).any(axis=1))
    img.crop((0, 0, img.width, min(img.height, rows.max() + 24))).save(DOCS / "report.png", optimize=True)


def trend_png(tmp: Path) -> None:
    db = tmp / "history.sqlite"
    for week in range(8):
        cfg = SimConfig(
            exercise="swing",
            reps=8,
            seed=100 + week,
            faults={"trunk_behind_vertical": 13.0 - week},
            fault_reps=tuple(range(1, 9 - week)),
            rates_hz={"sacrum": 100.0, "thoracic": 100.0},
        )
        csv = tmp / f"week{week}.csv"
        write_csv(csv, simulate_set(cfg).series)
        date = (dt.datetime(2026, 9, 1, 18, 0) + dt.timedelta(weeks=week)).isoformat()
        argv = ["analyze", str(csv), "--exercise", "swing", "--athlete", "demo", "--date", date, "--db", str(db)]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0
    assert (
        main(
            ["history", "--db", str(db), "--athlete", "demo", "--trend", "trunk_top", "--out", str(DOCS / "trend.png")]
        )
        == 0
    )


PICTURES = {"live": live_window_png, "report": report_png, "trend": trend_png}

if __name__ == "__main__":
    import os
    import sys

    os.chdir(ROOT)  # the pictures name the bundled files relative to the checkout
    with tempfile.TemporaryDirectory() as d:
        for name in sys.argv[1:] or PICTURES:
            PICTURES[name](Path(d))
