"""Scoring the analysis against simulator ground truth: offline (`analyze`) and live (`Tracker`), the same
way in the tests and in `bench/accuracy.py`. The truth comes from the generator's parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hinge.analysis.core import METRICS
from hinge.analysis.pipeline import analyze
from hinge.analysis.tracker import Rep, Tracker

PACKET_S = 0.02  # live: samples arrive in 20-ms packets, both sensors interleaved in time


def live_run(sim, *, packet_s: float = PACKET_S, exercise: str = "unknown"):
    """Feed a simulated set to the live tracker packet by packet; (frames (n, 4), events)."""
    trk = Tracker(dict(sim.rates_hz), exercise=exercise)
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


def reps_of(sim, mode: str, exercise: str = "unknown") -> list[dict]:
    """The reps `mode` ("offline" or "live") finds in a simulated set."""
    if mode == "offline":
        return analyze(sim.series, exercise=exercise).reps
    _, events = live_run(sim, exercise=exercise)
    return [e.rep for e in events if isinstance(e, Rep)]


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
