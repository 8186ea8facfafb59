"""`hinge record --simulate`, `hinge export`, analysing recordings, and the shipped example recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hinge.analysis.pipeline import METRICS, analyze
from hinge.cli import main
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.recording import Recorder, SensorInfo, read_recording
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimConfig, simulate_set
from hinge.sensing.stream import load_series

ROOT = Path(__file__).resolve().parents[1]


def _analyze_json(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["analyze", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_record_round_trip_is_byte_identical(tmp_path, capsys):
    out = tmp_path / "set.jsonl"
    assert main(["record", "--simulate", "--exercise", "swing", "--reps", "4", "--seed", "5", "--out", str(out)]) == 0
    profile = load_profile("hinge-ref")
    rate = float(profile.nominal_hz)
    sim = simulate_set(SimConfig(exercise="swing", reps=4, seed=5, rates_hz={"sacrum": rate, "thoracic": rate}))
    expected = simulated_packets(sim, {"sacrum": profile, "thoracic": profile})
    rec = read_recording(out)
    got = list(rec.packets())
    assert len(got) == len(expected) > 100
    for a, b in zip(got, expected, strict=True):
        assert a.sensor == b.sensor and a.payload == b.payload
        assert a.t_host == pytest.approx(b.t_host, abs=0.5e-6)
    assert rec.header["exercise"] == "swing" and "SIMULATED" in rec.header["label"]
    assert rec.header["sensors"]["sacrum"]["profile_toml"] == profile.raw_text


def test_analysis_of_recording_equals_analysis_of_its_csv_export(tmp_path, capsys):
    rec = tmp_path / "dl.jsonl.gz"
    main(["record", "--simulate", "--exercise", "deadlift", "--reps", "5", "--seed", "8", "--out", str(rec)])
    csv = tmp_path / "dl.csv"
    assert main(["export", str(rec), "--csv", str(csv)]) == 0
    a = _analyze_json(rec, capsys)
    b = _analyze_json(csv, capsys)
    assert a["summary"]["n_reps"] == b["summary"]["n_reps"] == 5
    for ra, rb in zip(a["reps"], b["reps"], strict=True):
        for m in METRICS:
            assert abs(ra[m] - rb[m]) <= 0.1, (m, ra[m], rb[m])
    pq = tmp_path / "dl.parquet"
    assert main(["export", str(rec), "--parquet", str(pq)]) == 0 and pq.stat().st_size > 1000


@pytest.mark.parametrize(
    ("name", "exercise", "n_reps", "fault"),
    [
        ("deadlift-posterior-tilt", "deadlift", 6, "posterior_pelvic_tilt"),
        ("swing-trunk-behind-vertical", "swing", 10, "trunk_behind_vertical"),
        ("good-morning-clean", "good_morning", 6, None),
    ],
)
def test_example_recordings(name, exercise, n_reps, fault, capsys):
    path = ROOT / "recordings" / f"{name}.simulated.jsonl.gz"
    result = _analyze_json(path, capsys)
    assert result["exercise"] == exercise and result["summary"]["n_reps"] == n_reps
    assert "SIMULATED" in read_recording(path).header["label"]
    if fault:
        assert all(any(f["kind"] == fault and f["severity"] == "fault" for f in r["faults"]) for r in result["reps"])
    else:
        assert result["summary"]["faults"] == {}


def test_sensor_dropout_marks_reps_as_gaps_and_invents_none(tmp_path):
    profile = load_profile("hinge-ref")
    sim = simulate_set(
        SimConfig(
            exercise="deadlift",
            reps=8,
            seed=0,
            rates_hz={"sacrum": 100.0, "thoracic": 100.0},
            dropout=("thoracic", 9.0, 5.0),
        )
    )
    path = tmp_path / "drop.jsonl"
    info = SensorInfo(profile.name, profile.raw_text, rate_hz=100.0)
    with Recorder(path, sensors={"sacrum": info, "thoracic": info}, exercise="deadlift") as rec:
        rec.write_event(9.0, "disconnected", "thoracic", "link lost")
        rec.write_event(14.0, "connected", "thoracic", "reconnected")
        for pkt in simulated_packets(sim, {"sacrum": profile, "thoracic": profile}):
            rec.write_packet(pkt)
    result = analyze(load_series(path), exercise="deadlift")
    truth = sim.truth["reps"]
    assert len(result.reps) < len(truth)  # reps wholly inside the dropout are not invented
    in_hole = [t for t in truth if t["start_s"] < 14.0 and t["end_s"] > 9.0]
    gap_reps = [r for r in result.reps if r["gap"]]
    assert 1 <= len(gap_reps) <= len(in_hole) and not any(r["faults"] for r in gap_reps)
    for r in result.reps:
        overlaps = r["start_s"] < 14.0 and r["end_s"] > 9.0
        assert r["gap"] == overlaps
        if not r["gap"]:  # reps clear of the hole are the true ones
            match = min(truth, key=lambda t: abs(t["start_s"] - r["start_s"]))
            assert abs(match["start_s"] - r["start_s"]) < 0.3
    assert any("thoracic: 5.0 s of data missing" in w for w in result.warnings)
    events = [e.event for e in read_recording(path) if not hasattr(e, "payload")]
    assert events == ["disconnected", "connected"]


def test_bad_recordings_are_one_line_errors(tmp_path, capsys):
    for name, text in (
        ("empty.jsonl", ""),
        ("future.jsonl", '{"format": "hinge-recording", "version": 9}\n'),
        ("other.jsonl", '{"hello": 1}\n'),
    ):
        p = tmp_path / name
        p.write_text(text)
        capsys.readouterr()
        assert main(["analyze", str(p)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err


def test_record_emulated_sensors_over_the_ble_stack(tmp_path, capsys):
    out = tmp_path / "em.jsonl"
    args = ["record", "--emulated", "--exercise", "deadlift", "--rate", "200", "--duration", "5", "--out", str(out)]
    assert main(args) == 0
    rec = read_recording(out)
    items = list(rec)
    packets = [i for i in items if hasattr(i, "payload")]
    events = {(i.event, i.sensor) for i in items if not hasattr(i, "payload")}
    assert {("connected", "sacrum"), ("connected", "thoracic")} <= events
    assert len(packets) > 300  # 2 sensors × 200 Hz / 4 samples per packet × ~4 s of streaming
    assert {p.sensor for p in packets} == {"sacrum", "thoracic"}
    assert rec.header["sensors"]["sacrum"]["profile"] == "hinge-ref"


def test_record_emulated_uses_the_profiles_own_rate(tmp_path):
    """Movella DOT streams at most 60 Hz: `--emulated --profile movella-dot` used to ask it for 200 Hz and
    fail; emulation now runs each profile at its nominal rate unless --rate says otherwise."""
    out = tmp_path / "dot.jsonl"
    assert main(["record", "--emulated", "--profile", "movella-dot", "--duration", "3", "--out", str(out)]) == 0
    rec = read_recording(out)
    packets = [i for i in rec if hasattr(i, "payload")]
    assert {p.sensor for p in packets} == {"sacrum", "thoracic"}
    assert rec.header["sensors"]["sacrum"]["profile"] == "movella-dot"
    assert rec.header["sensors"]["sacrum"]["rate_hz"] == 60.0
