"""Small things a new user trips on (issue 11): options that were ignored or accepted only to be refused later,
numbers printed two ways, a summary that never came, Ctrl-C that looked like a crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hinge.analysis.report import faults_text, format_report
from hinge.analysis.tracker import Rep, Tracker
from hinge.cli import main
from hinge.sensing.recording import read_recording
from hinge.sensing.simulator import SimConfig, simulate_set
from hinge.sensing.types import SENSORS, SensorSeries
from tests.conftest import simulated

RATE = 100.0


# -- record --------------------------------------------------------------------------------------------
def test_record_simulate_honours_duration(tmp_path, capsys):
    """The recording ends at --duration; the summary counts the simulated reps finished by then (truth)."""
    cfg = SimConfig(exercise="deadlift", reps=6, seed=3, rates_hz={s: 200.0 for s in SENSORS})
    truth = simulate_set(cfg).truth
    cut = truth["reps"][2]["end_s"] + 0.5  # three whole reps, the fourth not yet finished
    out = tmp_path / "short.jsonl"
    assert main(["record", "--simulate", "--exercise", "deadlift", "--reps", "6", "--seed", "3", "--rate", "200",
                 "--duration", f"{cut:.3f}", "--out", str(out), "--no-history"]) == 0
    packets = list(read_recording(out).packets())
    assert max(p.t_host for p in packets) <= cut
    assert max(p.t_host for p in packets) > cut - 0.1
    assert "3 simulated deadlift reps" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["record", "live"])
def test_out_with_a_suffix_analyze_cannot_read_is_refused_up_front(tmp_path, capsys, command):
    out = tmp_path / "r.txt"
    mode = ["--simulate"] if command == "record" else ["--emulated", "--terminal", "--duration", "30"]
    assert main([command, *mode, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--out" in err and str(out) in err and ".jsonl" in err and ".jsonl.gz" in err
    assert list(tmp_path.iterdir()) == []


# -- numbers as the table and the fault text print them ------------------------------------------------
def _rep(raw_top: float, **over) -> dict:
    """A rep dict as the analysis writes it: metrics rounded to 2 decimals, the fault's value from the raw
    number rounded to 1 (analysis/core.py, analysis/faults.py)."""
    rep = {"index": 1, "start_s": 4.0, "bottom_s": 5.0, "top_s": 6.0, "end_s": 7.0, "depth_deg": 80.0,
           "trunk_top_deg": round(raw_top, 2), "pelvis_top_deg": round(-0.04, 2), "lumbar_top_deg": -2.0,
           "lumbar_flexion_max_deg": 5.0, "gap": False,
           "faults": [{"kind": "trunk_behind_vertical", "severity": "fault", "value_deg": round(raw_top, 1),
                       "limit_deg": 10.0}]}
    rep.update(over)
    return rep


def _report(reps: list[dict]) -> str:
    counts: dict[str, int] = {}
    for r in reps:
        for f in r["faults"]:
            counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    result = {"exercise": "deadlift", "calibration": {"neutral_start_s": 0.5, "neutral_end_s": 3.5, "quality": "ok"},
              "sensors": {s: {"rate_hz": RATE, "lost_samples": 0} for s in SENSORS}, "reps": reps,
              "summary": {"n_reps": len(reps), "faults": counts}, "warnings": []}
    return format_report(result)


def test_table_and_fault_text_print_the_same_value():
    raw = -12.047  # 2 decimals: -12.05, which one decimal prints as -12.1; the raw value rounds to -12.0
    row = _report([_rep(raw)]).splitlines()[2]
    trunk_cell = row.split()[2]
    fault_value = re.search(r"trunk behind vertical \(fault, ([^°]+)°\)", row).group(1)
    assert trunk_cell == fault_value


def test_no_negative_zero_anywhere():
    row = _report([_rep(-12.0)]).splitlines()[2]
    assert "-0.0" not in row and row.split()[3] == "0.0"  # pelvis top -0.04
    from hinge.analysis.report import deg_text

    assert deg_text(-0.04) == "0.0" and deg_text(-0.06) == "-0.1" and deg_text(0.04) == "0.0"


def test_one_rep_is_singular_in_the_report_and_the_terminal_status():
    from hinge.session import SessionStatus
    from hinge.terminal import status_text

    assert _report([_rep(-12.0)]).splitlines()[3].startswith("1 rep;")
    st = SessionStatus(state="running", t_s=12.0, calibrated=True, calibration="ok", axes=True, sensors={},
                       reps=1, source="test")
    assert re.search(r"\b1 rep\b", status_text(st)) and "1 reps" not in status_text(st)


def test_a_rep_cut_by_the_end_of_the_recording_is_not_called_ok():
    """The live tracker, fed a simulated set (both sensors in 0.5-s rounds, as live) that stops just after a
    rep's bottom, closes that rep at the end without a top; its row must say so, not 'ok'."""
    sim = simulated(SimConfig(exercise="deadlift", reps=2, seed=5, rates_hz={s: RATE for s in SENSORS}, faults={}))
    last = sim.truth["reps"][-1]
    cut = last["bottom_s"] + 0.05 * (last["top_s"] - last["bottom_s"])
    trk = Tracker({s: RATE for s in SENSORS}, exercise="deadlift")
    reps = []
    for a in np.arange(0.0, cut, 0.5):
        for sensor, s in sim.series.items():
            k = (s.t > a) & (s.t <= min(a + 0.5, cut))
            reps += [e.rep for e in trk.feed(sensor, s.t[k], s.acc[k], s.gyr[k]).events if isinstance(e, Rep)]
    reps += [e.rep for e in trk.finish().events if isinstance(e, Rep)]
    cut_reps = [r for r in reps if r["top_s"] is None]
    assert cut_reps, "the tracker closed no cut rep"
    for r in cut_reps:
        text = faults_text(r)
        assert text.startswith("cut by end of recording") and text != "ok"
    assert faults_text(_rep(-2.0, faults=[])) == "ok"


# -- live: help and summary ----------------------------------------------------------------------------
def test_live_help_names_the_path_it_uses_and_duration_ends_with_a_summary(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["live", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    described = re.search(r"default: (\S+)\)", help_text).group(1)
    monkeypatch.chdir(tmp_path)
    assert main(["live", "--emulated", "--terminal", "--duration", "2", "--no-history"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    (made,) = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl")]
    pattern = re.escape(described)
    for field, rx in (("<date>", r"\d{4}-\d{2}-\d{2}"), ("<time>", r"\d{6}"), ("<exercise>", "unknown")):
        pattern = pattern.replace(re.escape(field), rx)
    pattern = pattern.replace(re.escape("[-<label>]"), "(-[a-z0-9-]+)?")
    assert re.fullmatch(pattern, made), (described, made)
    assert out[-1].startswith("stopped: 0 reps; no faults; recorded ") and out[-1].endswith(made)


def test_ctrl_c_stops_record_with_exit_0_a_summary_and_the_recording_kept(tmp_path):
    """SIGINT, as Ctrl-C sends it, to a real `hinge record` process once it streams."""
    out = tmp_path / "set.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hinge", "record", "--emulated", "--out", str(out), "--no-history"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    try:
        lines = []
        deadline = time.monotonic() + 60  # a guard against a hang, not a measurement
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("calibrated") or not line:
                break
        assert any(ln.startswith("calibrated") for ln in lines), "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "interrupted" not in err
    last = rest.strip().splitlines()[-1]
    assert last.startswith("stopped (Ctrl-C): ") and last.endswith(f"recorded {out}")
    packets = list(read_recording(out).packets())
    assert {p.sensor for p in packets} == set(SENSORS)
    t = np.array([p.t_host for p in packets])
    assert t.max() > 3.0  # streamed at least through the calibration stand


# -- analyze and export --------------------------------------------------------------------------------
@pytest.fixture
def swing_rec(tmp_path):
    """A simulated swing set recorded as the app records it (the exercise is in the header)."""
    rec = tmp_path / "swing.jsonl"
    assert main(["record", "--simulate", "--exercise", "swing", "--reps", "3", "--seed", "4", "--rate", "100",
                 "--out", str(rec), "--no-history"]) == 0
    return rec


def test_analyze_out_into_a_missing_folder_makes_it(swing_rec, tmp_path, capsys):
    out = tmp_path / "new" / "dir" / "r.json"
    assert main(["analyze", str(swing_rec), "--out", str(out), "--no-history"]) == 0
    import json

    assert json.loads(out.read_text())["exercise"] == "swing"
    blocked = tmp_path / "file"
    blocked.write_text("")
    capsys.readouterr()
    assert main(["analyze", str(swing_rec), "--out", str(blocked / "r.json"), "--no-history"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--out" in err and "Traceback" not in err


@pytest.mark.parametrize("form", ["parquet", "csv"])
def test_export_keeps_the_exercise_and_analyze_reads_its_own_export(swing_rec, tmp_path, capsys, form):
    import json

    out = tmp_path / f"swing.{form}"
    assert main(["export", str(swing_rec), f"--{form}", str(out)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(swing_rec), "--json", "--no-history"]) == 0
    original = json.loads(capsys.readouterr().out)
    assert main(["analyze", str(out), "--json", "--no-history"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["exercise"] == "swing"  # from the recording's header, through the export
    assert [r["depth_deg"] for r in exported["reps"]] == pytest.approx([r["depth_deg"] for r in original["reps"]],
                                                                       abs=0.05)


def test_export_refuses_to_overwrite_unless_forced(swing_rec, tmp_path, capsys):
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    assert main(["export", str(swing_rec), "--csv", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(out) in err and "--force" in err
    assert out.read_text() == "precious\n"
    assert main(["export", str(swing_rec), "--csv", str(out), "--force"]) == 0
    assert out.read_text().startswith("sensor,t,")


def test_a_set_cut_on_the_way_up_measures_no_top():
    """The data ends while the trunk is still coming up (inside the top phase's 20°, not yet upright): the
    lowest angle so far is no top. Offline, the last rep has no top metrics; the rep before keeps its top."""
    from hinge.analysis.pipeline import analyze

    sim = simulated(SimConfig(exercise="deadlift", reps=3, seed=5, rates_hz={s: RATE for s in SENSORS}, faults={}))
    last = sim.truth["reps"][-1]
    after = (sim.truth_t > last["bottom_s"]) & (sim.truth_trunk_deg < 12.0)  # the generator's trunk angle
    cut = float(sim.truth_t[np.flatnonzero(after)[0]])  # on the way up, 12° still to go
    series = {n: SensorSeries(n, s.t[s.t <= cut], s.acc[s.t <= cut], s.gyr[s.t <= cut])
              for n, s in sim.series.items()}
    reps = analyze(series, exercise="deadlift").reps
    assert len(reps) == len(sim.truth["reps"])
    assert reps[-1]["top_s"] is None and reps[-1]["trunk_top_deg"] is None
    assert faults_text(reps[-1]).startswith("cut by end of recording")
    before = sim.truth["reps"][-2]
    assert reps[-2]["top_s"] is not None and abs(reps[-2]["trunk_top_deg"] - before["trunk_top_deg"]) < 2


def test_a_reader_that_goes_away_is_no_traceback():
    """`hinge analyze FILE | head`: the pipe closes before the report is written; no traceback, exit 141."""
    rec = sorted((Path(__file__).resolve().parents[1] / "recordings").glob("*.jsonl.gz"))[0]
    proc = subprocess.Popen([sys.executable, "-m", "hinge", "analyze", str(rec), "--no-history"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command has analysed the set
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err
