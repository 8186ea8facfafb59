"""Regenerate the README pictures of reports and history: docs/report.png and docs/trend.png.

    python docs/make_pictures.py        (needs chromium on PATH for the report screenshot)

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


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        report_png(Path(d))
        trend_png(Path(d))
