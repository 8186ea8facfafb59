"""`hinge report`: the HTML page rendered in real headless Chromium and the PNG checked by their pixels
(traces drawn across the chart, one table row and one marker per rep, coloured by the rep's worst fault);
the PDF is one page; bad input is one line, exit 2."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hinge.cli import main
from hinge.report import HEADER_BG, SEVERITY_COLOURS, TRACES
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import SimConfig
from tests.conftest import simulated

# generator parameters: 4 deadlift reps, the trunk 14° behind vertical at the top of reps 2 and 4 (the fault
# limit is 10°), the other reps clean
REPS = 4
FAULT_REPS = (2, 4)
CFG = SimConfig(
    exercise="deadlift",
    reps=REPS,
    seed=11,
    faults={"trunk_behind_vertical": 14.0},
    fault_reps=FAULT_REPS,
    rates_hz={"sacrum": 100.0, "thoracic": 100.0},
)
EXPECTED = ["fault" if k in FAULT_REPS else "ok" for k in range(1, REPS + 1)]


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def _mask(img: np.ndarray, hex_colour: str, tol: int) -> np.ndarray:
    return np.abs(img - _rgb(hex_colour)).max(axis=2) <= tol


def _load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs it with apt)")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    csv = d / "set.csv"
    write_csv(csv, simulated(CFG).series)
    out = {k: d / f"report.{k}" for k in ("html", "png", "pdf")}
    rc = main(
        ["report", str(csv), "--html", str(out["html"]), "--png", str(out["png"]), "--pdf", str(out["pdf"]),
         "--athlete", "Ana", "--date", "2026-11-20T09:30", "--db", str(d / "history.sqlite")]
    )  # fmt: skip
    assert rc == 0
    return out


def _assert_traces_across(img: np.ndarray) -> None:
    """Every trace colour drawn, each over most of the same width (the chart's time axis)."""
    spans = []
    for _, _, colour in TRACES:
        m = _mask(img, colour, 20)
        assert m.sum() > 1500, colour
        xs = np.flatnonzero(m.any(axis=0))
        spans.append(xs.max() - xs.min())
    assert min(spans) > 0.6 * img.shape[1], spans


def test_html_is_self_contained(report):
    text = report["html"].read_text()
    assert "<svg" in text and "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//)""", text), "external resource"
    assert "<link" not in text and "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!#)", text), "only references inside the page (clip paths)"


def test_html_rendered_in_chromium_shows_traces_and_one_row_per_rep(report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium not installed")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1800",
         report["html"].resolve().as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    img = _load(shot)
    _assert_traces_across(img)
    # the table: below its dark header band, the rep-number cells are filled with the rep's worst severity
    header = _mask(img, HEADER_BG, 2)
    rows_with_header = np.flatnonzero(header.sum(axis=1) > 300)
    assert len(rows_with_header), "no table header"
    y0 = rows_with_header.max() + 1
    x0 = np.flatnonzero(header[rows_with_header[0]]).min() + 3  # inside the first column, left of its number
    column = img[y0:, x0]
    colours = []
    prev = None
    for px in column:
        sev = next((s for s, c in SEVERITY_COLOURS.items() if np.abs(px - _rgb(c)).max() <= 2), None)
        if sev is not None and sev != prev:
            colours.append(sev)
        prev = sev
    assert colours == EXPECTED


def test_png_has_traces_and_a_marker_and_a_row_per_rep(report):
    img = _load(report["png"])
    _assert_traces_across(img)
    counts = {}
    for severity, colour in SEVERITY_COLOURS.items():
        lab, n = ndimage.label(_mask(img, colour, 8))
        sizes = ndimage.sum(np.ones_like(lab), lab, range(1, n + 1)) if n else np.array([])
        counts[severity] = int((sizes >= 60).sum())  # markers and table cells; not anti-aliased text edges
    expected = {s: 2 * EXPECTED.count(s) for s in SEVERITY_COLOURS}
    assert counts == expected


def test_pdf_is_one_page(report):
    data = report["pdf"].read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 1


def test_report_bad_input_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.csv"), "--no-history"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.csv" in err[0]
    bad = tmp_path / "x.txt"
    bad.write_text("not a set\n")
    assert main(["report", str(bad), "--no-history"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x.txt" in err[0] and "expected" in err[0]
    assert main(["report", str(bad), "--date", "last tuesday", "--no-history"]) == 2
    assert "--date" in capsys.readouterr().err
