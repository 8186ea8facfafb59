"""Data holes in one sensor bridged with the other sensor's gyroscope (`hinge.analysis.bridge`): checked
against the samples the hole removed (the generator's own), offline and in the live tracker."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hinge.analysis.bridge import BridgeSettings, bridge_hole, bridge_holes
from hinge.analysis.core import OTHER
from hinge.analysis.timing import resample, timing, uniform_grid
from hinge.analysis.tracker import Tracker, _SensorStream
from hinge.sensing.simulator import REALISTIC, SENSORS, SimConfig
from tests.conftest import simulated
from tests.truth import holes_through_reps

NONE = np.zeros((0, 3))


@pytest.mark.parametrize(("exercise", "max_rms_deg"), [("swing", 2.0), ("deadlift", 0.8)])
def test_a_hole_is_bridged_with_the_other_sensors_motion_closer_than_a_straight_line(exercise, max_rms_deg):
    err = holes_through_reps(exercise, range(4), np.random.default_rng(3))
    line, bridge = np.sqrt(np.mean(err[:, :2] ** 2, axis=0))
    assert len(err) >= 30 and err[:, 2].mean() >= 0.5  # most holes are bridged
    assert bridge <= 0.8 * line and bridge <= max_rms_deg, (line, bridge, err[:, 2].mean())


def test_no_bridge_where_the_other_sensor_lost_data_too_or_moved_otherwise():
    rate = 100.0
    t = np.arange(0, 6, 1 / rate)
    w = np.column_stack([np.sin(2 * np.pi * 0.6 * t), 0.3 * np.cos(2 * np.pi * 0.6 * t), 0 * t])
    hole = (t[300], t[320])
    own_holes = np.array([[*hole, 0.19]])
    s = BridgeSettings()
    assert bridge_hole(t, 1.3 * w, hole, own_holes, t, w, NONE, s) == pytest.approx(1.3 * w[301:320])
    # the other sensor's own hole overlaps this one: nothing to predict from
    assert bridge_hole(t, 1.3 * w, hole, own_holes, t, w, np.array([[t[310], t[330], 0.19]]), s) is None
    # the other sensor moved in a way unrelated to this one (noise): the straight line stays
    noise = np.random.default_rng(0).normal(size=w.shape)
    assert bridge_hole(t, 1.3 * w, hole, own_holes, t, noise, NONE, s) is None
    # holes longer than max_hole_s stay straight lines
    assert bridge_hole(t, 1.3 * w, (t[100], t[250]), own_holes, t, w, NONE, s) is None


def test_live_bridges_exactly_as_offline_however_far_one_sensor_runs_ahead(monkeypatch):
    """The gyro rows the tracker passes to its fusion are the offline bridged grid, bit for bit, whether
    the sensors arrive interleaved in small chunks or one whole sensor after the other (a set with
    several holes in both)."""
    cfg = SimConfig(exercise="swing", reps=5, seed=2, errors=dataclasses.replace(REALISTIC, lost_bursts_per_min=20.0))
    sim = simulated(cfg)
    rates = {n: sim.truth["sensors"][n]["rate_hz"] for n in SENSORS}
    grids = {}
    for n in SENSORS:
        s = sim.series[n]
        tg = uniform_grid(s.t[0], s.t[-1], rates[n])
        grids[n] = (tg, resample(s.t, s.gyr, tg), timing(s.t).holes)
    offline = {n: grids[n][1].copy() for n in SENSORS}
    n_bridged = {n: bridge_holes(grids[n][0], offline[n], grids[n][2], grids[OTHER[n]][0], grids[OTHER[n]][1],
                                 grids[OTHER[n]][2], BridgeSettings()) for n in SENSORS}
    assert all(k >= 2 for k in n_bridged.values()), n_bridged

    passed = {n: [] for n in SENSORS}
    pass_on = _SensorStream._pass_on

    def spy(stream, grid):  # what each sensor's stream hands on to its still detector and fusion
        passed[stream.name].append(grid.copy())
        pass_on(stream, grid)

    monkeypatch.setattr(_SensorStream, "_pass_on", spy)

    def run(order):
        for rows in passed.values():
            rows.clear()
        trk = Tracker(rates)
        for name, a, b in order:
            s = sim.series[name]
            trk.feed(name, s.t[a:b], s.acc[a:b], s.gyr[a:b])
        trk.finish()
        return {n: np.vstack(passed[n]) for n in SENSORS}

    steps = {n: np.r_[0 : len(sim.series[n].t) : 7, len(sim.series[n].t)] for n in SENSORS}
    interleaved = sorted(
        ((n, a, b) for n in SENSORS for a, b in zip(steps[n][:-1], steps[n][1:], strict=True)),
        key=lambda c: sim.series[c[0]].t[c[1]],
    )
    for order in ([(n, 0, None) for n in SENSORS], interleaved):
        live = run(order)
        for n in SENSORS:
            np.testing.assert_array_equal(live[n][:, 0], grids[n][0][: len(live[n])])
            assert len(live[n]) >= len(grids[n][0]) - 1
            np.testing.assert_allclose(live[n][:, 4:7], offline[n][: len(live[n])], rtol=0, atol=1e-12)
