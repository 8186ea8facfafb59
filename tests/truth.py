"""Scoring the analysis against simulator ground truth: offline (`analyze`) and live (`Tracker`), the same
way in the tests and in `bench/accuracy.py`; and the gyro hole bridge against the samples a hole removed
(tests/test_bridge.py and `bench/bridge_holes.py`). The truth comes from the generator's parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hinge.analysis.bridge import BridgeSettings, bridge_hole, hole_rows
from hinge.analysis.core import METRICS, OTHER, Settings
from hinge.analysis.pipeline import analyze
from hinge.analysis.timing import resample, uniform_grid
from hinge.analysis.tracker import Tracker, final_reps
from hinge.sensing.simulator import REALISTIC, SENSORS, SimConfig, simulate_set

PACKET_S = 0.02  # live: samples arrive in 20-ms packets, both sensors interleaved in time
_NO_LOSS = dataclasses.replace(REALISTIC, lost_bursts_per_min=0.0, lost_sample_prob=0.0)
_NONE = np.zeros((0, 3))


def live_run(sim, *, packet_s: float = PACKET_S, exercise: str = "unknown", settings: Settings | None = None,
             tracker: type[Tracker] = Tracker):
    """Feed a simulated set to the live tracker (class `tracker`) packet by packet; (frames (n, 4), events)."""
    trk = tracker(dict(sim.rates_hz), exercise=exercise, settings=settings)
    chunks = []
    for name, s in sim.series.items():
        edges = np.searchsorted(s.t, np.arange(s.t[0], s.t[-1] + packet_s, packet_s))
        chunks += [(float(s.t[b - 1]), name, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    chunks.sort()
    frames, events = [], []
    for _, name, a, b in chunks:
        s = sim.series[name]
        out = trk.feed(name, s.t[a:b], s.acc[a:b], s.gyr[a:b])
        frames.append(out.frames)
        events += out.events
    events += trk.finish().events
    return np.vstack(frames) if frames else np.zeros((0, 4)), events


def reps_of(sim, mode: str, exercise: str = "unknown", settings: Settings | None = None) -> list[dict]:
    """The reps `mode` ("offline" or "live") finds in a simulated set (live: as finally reported)."""
    if mode == "offline":
        return analyze(sim.series, exercise=exercise, settings=settings).reps
    _, events = live_run(sim, exercise=exercise, settings=settings)
    return final_reps(events)


@dataclass
class Score:
    """Errors (found − true, degrees) per metric over reps without data gaps, and the count mismatches."""

    errors: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    sets: int = 0
    count_mismatch: list[str] = field(default_factory=list)

    def add(self, sim, reps: list[dict], name: str = "") -> None:
        self.sets += 1
        truth = sim.truth["reps"]
        if len(reps) != len(truth):
            self.count_mismatch.append(f"{name}: {len(reps)} reps found, {len(truth)} done")
            return
        for rt, ra in zip(truth, reps, strict=True):
            if rt["gap"] or ra["gap"]:
                continue
            for m in METRICS:
                self.errors[m].append(ra[m] - rt[m])

    def all(self) -> np.ndarray:
        return np.abs(np.concatenate([np.asarray(v, float) for v in self.errors.values()]))

    def rms(self) -> float:
        e = self.all()
        return float(np.sqrt(np.mean(e**2))) if len(e) else float("nan")

    def p95(self) -> float:
        e = self.all()
        return float(np.percentile(e, 95)) if len(e) else float("nan")

    def worst(self) -> float:
        e = self.all()
        return float(e.max()) if len(e) else float("nan")

    def line(self) -> str:
        return (f"{self.sets} sets, counts wrong {len(self.count_mismatch)}, reps {len(self.all()) // len(METRICS)}, "
                f"RMS {self.rms():.2f}°, P95 {self.p95():.2f}°, max {self.worst():.2f}°")


def holes_through_reps(exercise: str, seeds, rng):
    """Rows (straight line's error, bridge's error, bridged 1/0): the integrated gyro error in degrees
    against the samples a hole removed, for holes of 30–250 ms cut at random into the reps of simulated
    sets without other losses (either sensor, 50 or 100 Hz, upper sensor at T12 or C7); where the bridge
    declines, the straight line counts for it (what the analysis then uses)."""
    out = []
    for seed in seeds:
        rate = (50.0, 100.0)[seed % 2]
        sim = simulate_set(SimConfig(exercise=exercise, reps=5, seed=seed, errors=_NO_LOSS, upper_level=float(seed % 2),
                                  mounting="strapped", rates_hz=dict.fromkeys(SENSORS, rate)))
        for name in SENSORS:
            s, o = sim.series[name], sim.series[OTHER[name]]
            to = uniform_grid(o.t[0], o.t[-1], rate)
            go = resample(o.t, o.gyr, to)
            for rep in sim.truth["reps"]:
                length = rng.uniform(0.03, 0.25)
                start = rng.uniform(rep["start_s"], rep["end_s"] - length)
                i, j = np.searchsorted(s.t, [start, start + length])
                if j - i < 2:
                    continue
                keep = np.r_[: i, j : len(s.t)]
                tg = uniform_grid(s.t[0], s.t[-1], rate)
                g = resample(s.t[keep], s.gyr[keep], tg)  # the straight line across the hole
                hole = (s.t[i - 1], s.t[j])
                lo, hi = hole_rows(tg, *hole)
                true = resample(s.t, s.gyr, tg[lo:hi]).sum(axis=0) / rate
                bridged = bridge_hole(tg, g, hole, np.array([[*hole, 0.0]]), to, go, _NONE, BridgeSettings())
                used = bridged is not None
                bridged = g[lo:hi] if bridged is None else bridged  # what the analysis then uses
                out.append([np.degrees(np.linalg.norm(v.sum(axis=0) / rate - true)) for v in (g[lo:hi], bridged)])
                out[-1].append(used)
    return np.array(out)
