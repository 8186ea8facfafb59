"""Replay (the live pipeline) and `analyze` give the same reps on the same CSV at every supported rate
(issue 11): 30, 50, 60 (Movella DOT's top rate), 100 and 200 Hz, realistic simulated sets with lost samples.

Live fusion is causal and offline acausal, so their angles are not compared with each other but each with
the simulator's truth, with one tolerance; the rep count, rep boundaries and gap flags must agree (gap
flags also with the truth's holes). Before the fix the CSV → recording conversion dropped the 1–3 rows
that shared a packet with a lost one, so at ≤ 60 Hz a single lost sample became a 67–100-ms hole and a
clean rep was "data gap: not judged" in replay only.
"""

from __future__ import annotations

import pytest

from hinge.analysis.pipeline import analyze
from hinge.commands.simulate import truth_json
from hinge.sensing.csvio import read_csv, write_csv
from hinge.sensing.simulator import REALISTIC, SimConfig
from hinge.session import Session
from hinge.sources import replay_source
from tests.conftest import simulated

METRICS = ("depth_deg", "trunk_top_deg", "pelvis_top_deg", "lumbar_top_deg", "lumbar_flexion_max_deg")
ANGLE_TOL_DEG = 4.0  # each of offline and live against the truth (worst measured: 3.5°, live at 30 Hz)
BOUNDARY_TOL_S = 0.15  # rep start / bottom / end, live against offline (worst measured: 0.15 s at 50 Hz)


def _worst_error(reps, truth) -> float:
    return max(
        abs(r[m] - t[m]) for r, t in zip(reps, truth, strict=True) for m in METRICS
        if not t["gap"] and r[m] is not None and t[m] is not None
    )


@pytest.mark.parametrize("rate", [30.0, 50.0, 60.0, 100.0, 200.0])
def test_replay_and_analyze_give_the_same_reps(rate, tmp_path):
    sim = simulated(SimConfig(exercise="deadlift", reps=6, seed=0, errors=REALISTIC,
                              rates_hz={"sacrum": rate, "thoracic": rate}))
    truth = truth_json(sim)["reps"]
    csv = tmp_path / "set.csv"
    write_csv(csv, sim.series)
    offline = analyze(read_csv(csv)).reps
    src = replay_source(csv, speed=None)
    session = Session(src)
    for pkt in src.recording.packets():
        session.ingest(pkt)
    session.finish()
    live = session.reps
    session.close()
    assert len(offline) == len(live) == len(truth) == 6
    assert [r["gap"] for r in live] == [r["gap"] for r in offline] == [r["gap"] for r in truth]
    for a, b in zip(offline, live, strict=True):
        for key in ("start_s", "bottom_s", "end_s"):
            assert abs(a[key] - b[key]) <= BOUNDARY_TOL_S, (key, a[key], b[key])
    assert _worst_error(offline, truth) <= ANGLE_TOL_DEG
    assert _worst_error(live, truth) <= ANGLE_TOL_DEG


def test_converted_csv_keeps_every_row(tmp_path):
    """Every CSV row reaches the replay: the same sample times, lost ones lost in both, none more."""
    from hinge.convert import csv_to_recording
    from hinge.sensing.recording import read_recording
    from hinge.sensing.stream import decode_packets, streams_from_header

    sim = simulated(SimConfig(exercise="deadlift", reps=2, seed=0, errors=REALISTIC,
                              rates_hz={"sacrum": 50.0, "thoracic": 60.0}))
    csv = tmp_path / "set.csv"
    write_csv(csv, sim.series)
    rec = read_recording(csv_to_recording(csv, tmp_path / "set.jsonl"))
    decoded = decode_packets(rec.packets(), streams_from_header(rec.header))
    rows = read_csv(csv)
    for name in ("sacrum", "thoracic"):
        assert sum(1 for _ in sim.holes[name]) > 0  # the set has lost samples to keep
        assert len(decoded[name].t) == len(rows[name].t)
