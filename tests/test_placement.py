"""Swapped sensors (issue 11): the placement check runs offline and live, faults and cues are withheld while
it doubts the placement, and `--swap` / the window's button give the truth's faults back.

Which sensor sits where comes from the simulator (it writes the sacrum's and the thoracic's streams under
their names); a swapped set is the same set with the two names exchanged. Reference faults are the
simulator's truth classified with the same limits (`hinge.commands.simulate.truth_json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from hinge.analysis.pipeline import Settings, analyze
from hinge.analysis.tracker import Alert, Placement, Rep, Tracker
from hinge.cli import main
from hinge.commands.simulate import truth_json
from hinge.history import History, store_recording
from hinge.inputs import swap_placements
from hinge.sensing.csvio import write_csv
from hinge.sensing.recording import read_recording
from hinge.sensing.simulator import REALISTIC, SimConfig, lab_protocol
from hinge.sensing.types import OTHER_PLACEMENT as OTHER
from hinge.session import Session
from hinge.sources import replay_source
from hinge.ui import VERMILLION
from tests.conftest import FAULTY, simulated, write_recording


def truth_faults(sim) -> list[list[str]]:
    return [sorted(f["kind"] for f in r["faults"]) for r in truth_json(sim)["reps"]]


def fault_kinds(reps) -> list[list[str]]:
    return [sorted(f["kind"] for f in r["faults"]) for r in reps]


def feed_chunked(series, rates, chunk=23):
    """A tracker fed the sensors interleaved in small chunks, as a live session does; its events."""
    trk = Tracker(rates)
    events = []
    n = max(len(s.t) for s in series.values())
    for i in range(0, n, chunk):
        for name, s in series.items():
            events += trk.feed(name, s.t[i : i + chunk], s.acc[i : i + chunk], s.gyr[i : i + chunk]).events
    return events + trk.finish().events


def test_swapped_set_is_detected_offline_and_no_fault_is_reported():
    sim = simulated(FAULTY)  # trunk behind vertical 14° in every rep
    truth = truth_faults(sim)
    assert all("trunk_behind_vertical" in k for k in truth)
    a = analyze(swap_placements(sim.series))
    assert a.swap_suspected
    assert len(a.reps) == len(truth)  # the reps are counted
    assert all(r["faults"] == [] and r["withheld"] == "placement" for r in a.reps)
    assert a.to_json("x")["summary"]["faults"] == {}
    assert any("sensors probably swapped" in w for w in a.warnings)
    right = analyze(sim.series)  # the right placement: not flagged, the truth's faults
    assert not right.swap_suspected and "withheld" not in right.reps[0]
    assert fault_kinds(right.reps) == truth


def test_swapped_set_is_detected_live_from_the_first_rep_with_no_alert():
    sim = simulated(FAULTY)
    events = feed_chunked(swap_placements(sim.series), sim.rates_hz)
    kinds = [type(e) for e in events]
    assert Placement in kinds and Alert not in kinds
    first_placement = kinds.index(Placement)
    reps = [e.rep for e in events if isinstance(e, Rep)]
    assert len(reps) == 3 and kinds.index(Rep) > first_placement  # flagged with the first rep, before it shows
    assert all(r["faults"] == [] and r["withheld"] == "placement" for r in reps)
    assert events[first_placement].swap_suspected
    # the right placement: no Placement event, alerts and the truth's faults
    right = feed_chunked(sim.series, sim.rates_hz)
    assert not any(isinstance(e, Placement) for e in right) and any(isinstance(e, Alert) for e in right)
    assert fault_kinds(e.rep for e in right if isinstance(e, Rep)) == truth_faults(sim)


MIXES = [
    SimConfig(exercise="deadlift", reps=4, seed=3, errors=REALISTIC),
    SimConfig(exercise="swing", reps=5, seed=4, errors=REALISTIC),
    SimConfig(exercise="good_morning", reps=4, seed=5, errors=REALISTIC,
              faults={"posterior_pelvic_tilt": 14.0}),  # a tuck widens the pelvis's range: not a swap
    SimConfig(exercise="deadlift", reps=4, seed=1, stoop=True, errors=REALISTIC),
    SimConfig(exercise="good_morning", reps=3, seed=2, posture="seated", errors=REALISTIC),
    lab_protocol(4),  # seated flexions, side bends, twists
    SimConfig(exercise="deadlift", reps=4, seed=7, errors=REALISTIC,
              movements=("side_bend", "twist", "walk_turn", "sit_stand", "setup")),
]


def _mix_id(c: SimConfig) -> str:
    return f"{c.exercise}-{c.posture}-stoop{c.stoop}-s{c.seed}-m{len(c.movements)}"


@pytest.mark.parametrize("cfg", MIXES, ids=_mix_id)
def test_a_set_placed_right_is_not_flagged_offline_or_live(cfg):
    sim = simulated(cfg)
    a = analyze(sim.series)
    assert a.reps and not a.swap_suspected
    assert not any(isinstance(e, Placement) for e in feed_chunked(sim.series, sim.rates_hz, chunk=61))


def test_swapped_sets_of_several_seeds_and_exercises_are_flagged():
    for cfg in MIXES[:3]:
        sim = simulated(cfg)
        a = analyze(swap_placements(sim.series))
        assert a.swap_suspected, cfg
        assert all(r["faults"] == [] for r in a.reps)


@pytest.mark.parametrize("cfg", MIXES[3:6], ids=_mix_id)
def test_swapped_stoop_and_seated_sets_without_a_thoracic_bend_are_flagged_not_no_hinge(cfg):
    """Swapped, a stoop or seated flexion leaves the 'thoracic' sensor (on the pelvis) too still for a
    forward bend, so no hinge is found: the sacrum sensor's lean (on the thorax) says why, offline (a
    warning, swap_suspected, 0 reps, exit 0) and live (a Placement event, no alert)."""
    sim = simulated(cfg)
    a = analyze(swap_placements(sim.series))
    assert a.swap_suspected and not a.reps
    assert any("sensors probably swapped" in w for w in a.warnings)
    assert not any("no hinge found" in w for w in a.warnings)
    events = feed_chunked(swap_placements(sim.series), sim.rates_hz, chunk=37)
    flags = [e for e in events if isinstance(e, Placement)]
    assert flags and flags[0].swap_suspected and "sacrum sensor leaned past" in flags[0].message
    assert not any(isinstance(e, Alert) for e in events)


def test_the_real_walking_recording_is_not_flagged(capsys):
    root = Path("/work/shared/data/real/walk-negative")
    path = next(root.glob("*.csv"), None) if root.is_dir() else None
    if path is None:
        pytest.skip("shared real recordings not available")
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["swap_suspected"] is False
    assert main(["analyze", str(path), "--json", "--swap"]) == 0  # a walking pelvis is no thorax either
    assert json.loads(capsys.readouterr().out)["swap_suspected"] is False


def test_analyze_swap_gives_the_truths_faults(tmp_path, capsys):
    sim = simulated(FAULTY)
    csv = tmp_path / "swapped.csv"
    write_csv(csv, swap_placements(sim.series))  # strapped on the wrong places
    assert main(["analyze", str(csv), "--json"]) == 0
    flagged = json.loads(capsys.readouterr().out)
    assert flagged["swap_suspected"] and flagged["summary"]["faults"] == {}
    assert main(["analyze", str(csv)]) == 0
    out = capsys.readouterr()
    assert "not judged: sensors swapped?" in out.out and "--swap" in out.err
    assert main(["analyze", str(csv), "--swap", "--json"]) == 0
    fixed = json.loads(capsys.readouterr().out)
    assert not fixed["swap_suspected"]
    assert fault_kinds(fixed["reps"]) == truth_faults(sim)
    # export --swap writes the streams under their real placements: analysed as placed right
    out_csv = tmp_path / "fixed.csv"
    assert main(["export", str(csv), "--swap", "--csv", str(out_csv)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out_csv), "--json"]) == 0
    assert fault_kinds(json.loads(capsys.readouterr().out)["reps"]) == truth_faults(sim)


@pytest.fixture(scope="module")
def swapped_recording(tmp_path_factory):
    """FAULTY recorded with the sensors on each other's places."""
    path = tmp_path_factory.mktemp("swap") / "swapped.jsonl"
    sim = simulated(FAULTY)
    sim_swapped = type(sim)(swap_placements(sim.series), sim.truth, sim.truth_t, sim.truth_trunk_deg,
                            sim.truth_pelvis_deg, {OTHER[k]: v for k, v in sim.holes.items()},
                            {OTHER[k]: v for k, v in sim.index.items()}, {OTHER[k]: v for k, v in sim.rates_hz.items()})
    write_recording(path, sim_swapped)
    return path


def test_replay_session_flags_the_swap_and_swap_option_fixes_it(swapped_recording, tmp_path):
    sim = simulated(FAULTY)
    session = Session(replay_source(swapped_recording, speed=None), exercise="deadlift")
    for pkt in read_recording(swapped_recording).packets():
        session.ingest(pkt)
    session.finish()
    st = session.status()
    assert st.swap_suspected and not st.swapped and st.reps == 3
    assert all(r["faults"] == [] for r in session.reps)
    assert not any(isinstance(e.event, Alert) for e in session.events_since(0)[0])
    # --swap: the same packets, each placement taken for the other, recorded under the placement it had
    out = tmp_path / "fixed.jsonl"
    fixed = Session(replay_source(swapped_recording, speed=None), exercise="deadlift", swap=True, record_to=out)
    for pkt in read_recording(swapped_recording).packets():
        fixed.ingest(pkt)
    fixed.finish()
    fixed.close()
    assert not fixed.status().swap_suspected and fixed.status().swapped
    assert fault_kinds(fixed.reps) == truth_faults(sim)
    recorded = list(read_recording(out).packets())
    original = list(read_recording(swapped_recording).packets())
    assert [(p.sensor, p.payload) for p in recorded] == [(OTHER[p.sensor], p.payload) for p in original]


def test_swap_sensors_reruns_a_finished_replay(swapped_recording):
    sim = simulated(FAULTY)
    session = Session(replay_source(swapped_recording, speed=None), exercise="deadlift").start()
    assert session.wait(60)
    assert session.status().swap_suspected
    g = session.generation
    session.swap_sensors()
    st = session.status()
    assert session.generation == g + 1 and st.swapped and not st.swap_suspected and st.reps == 3
    assert fault_kinds(session.reps) == truth_faults(sim)
    session.close()


def test_terminal_view_says_swapped_and_how_to_fix(swapped_recording):
    import io

    from hinge.terminal import TerminalView

    session = Session(replay_source(swapped_recording, speed=None), exercise="deadlift")
    out = io.StringIO()
    view = TerminalView(session, out)
    for pkt in read_recording(swapped_recording).packets():
        session.ingest(pkt)
    session.finish()
    view.update()
    text = out.getvalue()
    assert "sensors probably swapped" in text and "--swap" in text
    assert "SENSORS SWAPPED? faults withheld" in text
    assert "not judged: sensors swapped?" in text and " ! Shoulders" not in text
    session.close()


def test_window_shows_the_swap_and_its_button_reruns_the_set(swapped_recording):
    from hinge.window import LiveWindow, application

    application()
    sim = simulated(FAULTY)
    session = Session(replay_source(swapped_recording, speed=None), exercise="deadlift")
    win = LiveWindow(session, auto_refresh=False)
    win.show()
    win.refresh()
    assert win.swap_button.isHidden()
    for pkt in read_recording(swapped_recording).packets():
        session.ingest(pkt)
    session.finish()
    session._done.set()  # as when the replay's loop has ended
    win.refresh()
    assert not win.swap_button.isHidden()
    assert win.calibration_label.text() == "SENSORS SWAPPED? faults withheld"
    # drawn: the button's pixels are not one flat colour, the label is red
    img = win.grab().toImage()
    geo = win.swap_button.geometry()
    top_left = win.swap_button.mapTo(win, geo.topLeft() - geo.topLeft())
    colours = {img.pixelColor(top_left.x() + x, top_left.y() + y).name()
               for x in range(2, geo.width() - 2, 3) for y in range(2, geo.height() - 2, 3)}
    assert len(colours) > 2
    lab = win.calibration_label.mapTo(win, win.calibration_label.rect().center())
    assert img.pixelColor(lab.x() + 60, lab.y()).name() == VERMILLION.lower() or VERMILLION.lower() in {
        img.pixelColor(lab.x() + dx, lab.y() + dy).name() for dx in range(-90, 90, 3) for dy in (-6, 0, 6)}
    rows = range(win.table.rowCount())
    assert all(win.table.item(r, 2).background().color().name() != VERMILLION.lower() for r in rows)
    win.swap_button.click()
    win.refresh()
    assert win.swap_button.isHidden() and not session.status().swap_suspected
    assert win.table.rowCount() == 3
    assert fault_kinds(session.reps) == truth_faults(sim)
    assert all(win.table.item(r, 2).background().color().name() == VERMILLION.lower() for r in range(3))
    win.close()


def test_record_simulate_swap_writes_the_streams_under_each_others_placement(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["record", "--simulate", "--reps", "2", "--out", str(a)]) == 0
    assert main(["record", "--simulate", "--reps", "2", "--swap", "--out", str(b)]) == 0
    pa = [(p.sensor, p.payload) for p in read_recording(a).packets()]
    pb = [(p.sensor, p.payload) for p in read_recording(b).packets()]
    assert pb == [(OTHER[s], x) for s, x in pa] and pa


def test_every_sensor_reading_command_takes_swap():
    from hinge.cli import build_parser

    parser = build_parser(None)
    for cmd in ("analyze x.csv", "report x.csv", "export x.csv --csv y.csv", "replay x.csv", "live", "demo",
                "record --simulate"):
        args = parser.parse_args([*cmd.split(), "--swap"])
        assert args.swap is True


def test_placement_check_ignores_rejected_and_nan_evidence():
    from hinge.analysis.core import PlacementCheck

    check = PlacementCheck(1.5)
    assert not check.doubt() and not check.doubt(float("nan"))
    assert check.doubt(3.0) and not check.doubt(-3.0)
    np.testing.assert_equal(check.evidence, [])


def test_a_set_swapped_with_the_button_goes_into_the_history_as_analysed(swapped_recording, tmp_path):
    """The window's "Swap sensors" leaves the recording as the packets came (a marker says so); the set
    `hinge live` then stores is analysed the way the session ended up reading it: the truth's faults,
    not withheld. Without the swap it would be stored swapped (faults withheld)."""
    sim = simulated(FAULTY)
    out = tmp_path / "kept.jsonl"
    session = Session(replay_source(swapped_recording, speed=None), record_to=out)
    asyncio.run(session.run())
    session.close()
    assert session.status().swap_suspected and not session.analysis_swapped
    session.swap_sensors()  # finished: re-run at once with the sensors read the other way round
    assert session.analysis_swapped and not session.status().swap_suspected
    for swap, db in ((session.analysis_swapped, tmp_path / "h.sqlite"), (False, tmp_path / "unswapped.sqlite")):
        args = argparse.Namespace(no_history=False, db=str(db), athlete="", command="live")
        store_recording(args, out, Settings(), swap=swap)
        with History(db) as h:
            table = h.rep_table()
        kinds = [sorted(f.split(":")[0] for f in row.split(", ") if f) for row in table["faults"]]
        assert kinds == (truth_faults(sim) if swap else [[] for _ in truth_faults(sim)]), (swap, kinds)
