"""`hinge simulate` / `hinge analyze` end to end, and every kind of bad input (one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hinge.cli import main
from hinge.sensing.csvio import read_csv, write_csv
from hinge.sensing.simulator import SimConfig
from tests.conftest import simulated


@pytest.fixture(scope="module")
def set_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("set")
    out, truth = d / "set.csv", d / "truth.json"
    assert (
        main(
            ["simulate", "--exercise", "swing", "--reps", "10", "--seed", "3", "--out", str(out), "--truth", str(truth)]
        )
        == 0
    )
    return out, truth


def test_simulate_then_analyze_json_matches_truth(set_csv, capsys):
    out, truth_path = set_csv
    capsys.readouterr()
    assert main(["analyze", str(out), "--exercise", "swing", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    truth = json.loads(truth_path.read_text())
    assert result["summary"]["n_reps"] == truth["summary"]["n_reps"] == 10
    assert set(result) >= {"input", "exercise", "calibration", "sensors", "reps", "summary"}
    assert set(result["sensors"]) == {"sacrum", "thoracic"}
    for ra, rt in zip(result["reps"], truth["reps"], strict=True):
        assert ra["start_s"] < ra["bottom_s"] < ra["top_s"] <= ra["end_s"]
        for key in ("depth_deg", "trunk_top_deg", "pelvis_top_deg", "lumbar_top_deg", "lumbar_flexion_max_deg"):
            assert abs(ra[key] - rt[key]) < 1.0, (ra["index"], key)
        assert {f["kind"] for f in ra["faults"]} == {f["kind"] for f in rt["faults"]} or any(
            abs(abs(f["value_deg"]) - abs(f["limit_deg"])) < 1.0 for f in ra["faults"] + rt["faults"]
        )


def test_analyze_table_names_faults_and_cues(set_csv, capsys):
    out, truth_path = set_csv
    truth = json.loads(truth_path.read_text())
    capsys.readouterr()
    assert main(["analyze", str(out), "--exercise", "swing"]) == 0
    text = capsys.readouterr().out
    assert len([ln for ln in text.splitlines() if ln[:3].strip().isdigit() and "reps;" not in ln]) == 10
    if any(k in truth["summary"]["faults"] for k in ("lumbar_rounding",)):
        assert "Spine never rounds when leaning over" in text


def test_custom_limits_change_the_verdict(set_csv, capsys):
    out, _ = set_csv
    capsys.readouterr()
    main(["analyze", str(out), "--json", "--limit", "lumbar_rounding=1,2"])
    result = json.loads(capsys.readouterr().out)
    assert all(any(f["kind"] == "lumbar_rounding" for f in r["faults"]) for r in result["reps"] if not r["gap"])


def test_limits_are_magnitudes_on_the_faults_own_side(tmp_path, capsys):
    """`--limit trunk_behind_vertical=8,12` (written like the help's `lumbar_rounding=12,20`) means 8° and 12°
    behind vertical; it used to turn every trunk fault off silently (a positive limit looked forward)."""
    sim = simulated(SimConfig(exercise="swing", reps=4, seed=1, faults={"trunk_behind_vertical": 14.0}))
    p = tmp_path / "lean.csv"
    write_csv(p, sim.series)
    capsys.readouterr()
    assert main(["analyze", str(p), "--json", "--no-history", "--limit", "trunk_behind_vertical=8,12"]) == 0
    reps = json.loads(capsys.readouterr().out)["reps"]
    judged = [(rt, ra) for rt, ra in zip(sim.truth["reps"], reps, strict=True) if not ra["gap"]]
    assert judged
    for rt, ra in judged:  # the truth's trunk top is about -14°: past the 12° fault limit
        assert rt["trunk_top_deg"] < -13.0
        fault = [f for f in ra["faults"] if f["kind"] == "trunk_behind_vertical"]
        assert fault and fault[0]["severity"] == "fault" and fault[0]["limit_deg"] == -12.0
    cases = (("trunk_behind_vertical=12,8", "beyond the fault limit"), ("lumbar_rounding=-5,10", "magnitudes"))
    for bad, says in cases:
        assert main(["analyze", str(p), "--no-history", "--limit", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert "--limit" in err and says in err and "\n" not in err


def _write(tmp_path, text, name="bad.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _good_rows(tmp_path):
    sim = simulated(SimConfig(exercise="deadlift", reps=3, seed=2, rates_hz={"sacrum": 50.0, "thoracic": 50.0}))
    p = tmp_path / "good.csv"
    write_csv(p, sim.series)
    return p.read_text().splitlines()


def _run_error(args, capsys):
    capsys.readouterr()
    status = main(args)
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_column(tmp_path, capsys):
    lines = _good_rows(tmp_path)
    text = "\n".join(",".join(c for i, c in enumerate(ln.split(",")) if i != 5) for ln in lines)
    err = _run_error(["analyze", str(_write(tmp_path, text))], capsys)
    assert "bad.csv" in err and "'gx'" in err


def test_unknown_sensor(tmp_path, capsys):
    lines = _good_rows(tmp_path)
    lines[7] = lines[7].replace("sacrum", "lumbar").replace("thoracic", "lumbar")
    err = _run_error(["analyze", str(_write(tmp_path, "\n".join(lines)))], capsys)
    assert "row 8" in err and "'lumbar'" in err


def test_non_numeric_and_nan_values(tmp_path, capsys):
    lines = _good_rows(tmp_path)
    bad = lines.copy()
    parts = bad[20].split(",")
    parts[3] = "abc"
    bad[20] = ",".join(parts)
    err = _run_error(["analyze", str(_write(tmp_path, "\n".join(bad)))], capsys)
    assert "row 21" in err and "'ay'" in err and "abc" in err
    bad = lines.copy()
    parts = bad[30].split(",")
    parts[6] = "nan"
    bad[30] = ",".join(parts)
    err = _run_error(["analyze", str(_write(tmp_path, "\n".join(bad), "nan.csv"))], capsys)
    assert "row 31" in err and "'gy'" in err


def test_one_sensor_absent(tmp_path, capsys):
    lines = _good_rows(tmp_path)
    text = "\n".join([lines[0]] + [ln for ln in lines[1:] if ln.startswith("sacrum")])
    err = _run_error(["analyze", str(_write(tmp_path, text))], capsys)
    assert "'thoracic'" in err and "no rows" in err


def test_unsorted_times(tmp_path, capsys):
    lines = _good_rows(tmp_path)
    rows = [ln for ln in lines[1:] if ln.startswith("thoracic")]
    i = lines.index(rows[10])
    j = lines.index(rows[11])
    lines[i], lines[j] = lines[j], lines[i]
    err = _run_error(["analyze", str(_write(tmp_path, "\n".join(lines)))], capsys)
    assert "'thoracic'" in err and "increasing time" in err and f"row {j + 1}" in err


def test_empty_and_missing_files(tmp_path, capsys):
    err = _run_error(["analyze", str(_write(tmp_path, ""))], capsys)
    assert "empty" in err
    err = _run_error(["analyze", str(tmp_path / "nope.csv")], capsys)
    assert "nope.csv" in err and "no such file" in err
    err = _run_error(["analyze", str(_write(tmp_path, "x", "set.txt"))], capsys)
    assert "set.txt" in err


def test_no_still_period_warns_but_analyses(tmp_path, capsys):
    sim = simulated(SimConfig(exercise="deadlift", reps=4, seed=3, stand_s=0.3, tail_s=0.3))
    p = tmp_path / "nostill.csv"
    write_csv(p, sim.series)
    capsys.readouterr()
    assert main(["analyze", str(p), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["calibration"]["quality"] in ("short_still", "no_still_period")
    assert "no still standing or sitting period" in captured.err
    assert result["summary"]["n_reps"] == 4


def test_zero_reps_warns(tmp_path, capsys):
    sim = simulated(SimConfig(exercise="good_morning", reps=4, seed=3, depth_deg=(16.0, 22.0)))
    p = tmp_path / "shallow.csv"
    write_csv(p, sim.series)
    capsys.readouterr()
    assert main(["analyze", str(p), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["n_reps"] == 0
    assert "no hinge found" in captured.err and "0 reps" in captured.err


def test_swapped_sensors_and_slipping_strap_warn():
    from hinge.analysis.pipeline import analyze

    sim = simulated(SimConfig(exercise="deadlift", reps=5, seed=4))
    swapped = analyze({"sacrum": sim.series["thoracic"], "thoracic": sim.series["sacrum"]})
    assert any("swapped" in w for w in swapped.warnings)
    assert not any("swapped" in w for w in analyze(sim.series).warnings)
    slip = simulated(SimConfig(exercise="good_morning", reps=6, seed=1, slip_deg=40.0))
    assert any("thoracic: hinge axis estimate unstable" in w for w in analyze(slip.series).warnings)


def test_csv_round_trip_is_lossless_to_the_microsecond(tmp_path):
    sim = simulated(SimConfig(exercise="swing", reps=2, seed=1))
    p = tmp_path / "rt.csv"
    write_csv(p, sim.series)
    back = read_csv(p)
    for name, s in sim.series.items():
        np.testing.assert_allclose(back[name].t, s.t, atol=1e-6)
        np.testing.assert_allclose(back[name].acc, s.acc, atol=1e-6)
        np.testing.assert_allclose(back[name].gyr, s.gyr, atol=1e-6)


# --- the long-set path: one sensor fused in a forked child, its result sent back through a pipe ---


def _square(job):
    if isinstance(job, str):
        return job * 2  # not an array: pickled whole
    return np.asarray(job) ** 2


def _fail(job):
    from hinge.analysis.errors import AnalysisError

    if job == "bad":
        raise AnalysisError("fuse: acc must have shape (N, 3), got (5,)")
    if job == "die":
        import os

        os._exit(3)
    return job


def _spy_forks(monkeypatch) -> list[int]:
    """The pids of the children `_forked_map` forks, recorded as they start."""
    import hinge.commands.analyze as cmd

    pids: list[int] = []
    real = cmd._fork_job

    def fork_job(fn, job):
        pid, fd = real(fn, job)
        pids.append(pid)
        return pid, fd

    monkeypatch.setattr(cmd, "_fork_job", fork_job)
    return pids


def _all_reaped(pids: list[int]) -> bool:
    import os

    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False  # still ours to wait for: a zombie or a running child
    return True


def test_forked_map_returns_what_map_does(monkeypatch):
    from hinge.commands.analyze import _forked_map

    pids = _spy_forks(monkeypatch)
    jobs = [np.arange(12.0).reshape(4, 3), np.arange(6, dtype=np.int32), "ab", np.ones((3, 4))]
    got = _forked_map(_square, jobs)
    want = [_square(j) for j in jobs]
    assert got[2] == "abab"
    for g, w in zip(got[:2] + got[3:], want[:2] + want[3:], strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w)
    assert len(pids) == 3 and _all_reaped(pids)


def test_forked_map_raises_the_childs_error_and_a_dead_child_is_one_line(monkeypatch):
    from hinge.analysis.errors import AnalysisError
    from hinge.commands.analyze import _forked_map

    pids = _spy_forks(monkeypatch)
    with pytest.raises(AnalysisError, match=r"got \(5,\)"):
        _forked_map(_fail, ["bad", "ok"])
    with pytest.raises(RuntimeError, match="worker process ended without sending its result"):
        _forked_map(_fail, ["die", "ok"])
    assert len(pids) == 2 and _all_reaped(pids)


def test_long_set_path_gives_the_same_json_as_one_process(monkeypatch, set_csv):
    import hinge.commands.analyze as cmd
    from hinge.analysis.pipeline import analyze

    samples = read_csv(set_csv[0])
    serial = analyze(samples, exercise="swing").to_json("x")
    monkeypatch.setattr(cmd, "PARALLEL_ABOVE_SAMPLES", 0)
    calls = []
    monkeypatch.setattr(cmd, "_fork_job", lambda fn, job, real=cmd._fork_job: calls.append(1) or real(fn, job))
    assert json.dumps(cmd.analyze_samples(samples, exercise="swing").to_json("x")) == json.dumps(serial)
    assert calls == [1]  # one sensor in a child, the other here


def test_no_history_does_not_hash_the_file(monkeypatch, set_csv, tmp_path, capsys):
    """The content hash only identifies a stored set: --no-history skips reading the file a second time."""
    import hinge.sets

    hashed = []
    real = hinge.sets.content_hash
    monkeypatch.setattr(hinge.sets, "content_hash", lambda p: hashed.append(p) or real(p))
    assert main(["analyze", str(set_csv[0]), "--exercise", "swing", "--no-history"]) == 0
    assert hashed == []
    assert main(["analyze", str(set_csv[0]), "--exercise", "swing", "--db", str(tmp_path / "h.db")]) == 0
    assert len(hashed) == 1
    capsys.readouterr()


def test_scipy_is_imported_in_the_background_and_joined_before_the_analysis(monkeypatch, set_csv, capsys):
    """The low-pass's library is imported on a thread while the input is read; the thread has ended before
    the analysis (and any fork) starts; a module that cannot be imported makes no noise there."""
    import threading

    import hinge.commands.analyze as cmd

    started, alive_at_analysis = [], []
    real_start, real_analyze = cmd._import_in_background, cmd.analyze_samples

    def start(name):
        started.append(name)
        return real_start(name)

    def analyze_samples(samples, **kw):
        alive_at_analysis.append([t.name for t in threading.enumerate() if t.name.startswith("import ")])
        return real_analyze(samples, **kw)

    monkeypatch.setattr(cmd, "_import_in_background", start)
    monkeypatch.setattr(cmd, "analyze_samples", analyze_samples)
    assert main(["analyze", str(set_csv[0]), "--exercise", "swing", "--no-history"]) == 0
    assert started == ["scipy.ndimage"] and alive_at_analysis == [[]]
    capsys.readouterr()
    real_start("hinge_no_such_module").join()
    assert capsys.readouterr().err == ""


def test_consume_frees_the_samples_before_fusion_and_changes_nothing(set_csv):
    """analyze(consume=True) takes the samples out of the dict once on the grids: by the time the fusion
    jobs run nothing holds the raw arrays any more, and the result is the same as without."""
    import gc
    import weakref

    from hinge.analysis.pipeline import analyze

    series = read_csv(set_csv[0])
    refs = [weakref.ref(getattr(s, f)) for s in series.values() for f in ("t", "acc", "gyr")]
    alive_at_fusion = []

    def mapper(fn, jobs):
        gc.collect()
        alive_at_fusion.append(sum(r() is not None for r in refs))
        return map(fn, jobs)

    got = analyze(series, exercise="swing", mapper=mapper, consume=True).to_json("x")
    assert series == {} and alive_at_fusion == [0]
    assert json.dumps(got) == json.dumps(analyze(read_csv(set_csv[0]), exercise="swing").to_json("x"))
