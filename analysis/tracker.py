"""Streaming tracker: the analysis of `analyze()`, fed chunk by chunk while a set is lifted.

    tracker = Tracker({"sacrum": 100.0, "thoracic": 100.0})
    out = tracker.feed("sacrum", t, acc, gyr)      # any chunk sizes, sensors interleaved
    out.frames   # (n, 4): t, pelvis_deg, trunk_deg, lumbar_deg on the common grid
    out.events   # Calibrated, Alert (a limit crossed, raised at once), Rep (a finished rep, analyzer dict)

Per sensor: samples are resampled onto the sensor's own uniform grid (holes bridged linearly and
remembered), held until the calibration (both sensors still, ARCHITECTURE.md §6 neutral standing), then
fused causally (`OnlineFuser`, bias from the still period). The hinge axis comes from the motion as it
happens: the second moment of the angular velocity, accumulated in fixed 0.25-s blocks, re-solved at
each block end; a sample's angle uses the axis of the last block before it, so the output does not
depend on how the stream was chunked. Angles on both sensors' grids are merged onto one common grid and
fed to the same `RepSegmenter` as offline analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.angles import sagittal_angles_deg, sagittal_form
from analysis.calibration import FAST_RAD_S, first_run, hinge_axis, still_mask
from analysis.errors import AnalysisError
from analysis.faults import FAULTS
from analysis.fusion import OnlineFuser
from analysis.pipeline import SENSORS, Settings, rep_dict
from analysis.segmenter import RepSegmenter
from analysis.timing import holes_and_lost, resample

BLOCK_S = 0.25  # hinge-axis update period
AXIS_MIN_ROTATION_DEG = 20.0  # rotation needed before the first axis estimate


@dataclass(frozen=True)
class Calibrated:
    t: float
    neutral_start_s: float
    neutral_end_s: float


@dataclass(frozen=True)
class Alert:
    """A fault limit crossed during the rep in progress (raised the moment it happens)."""

    t: float
    kind: str
    severity: str
    value_deg: float
    cue: str


@dataclass(frozen=True)
class Rep:
    """A finished rep, as the analyzer JSON's rep dict."""

    t: float
    rep: dict[str, Any]


@dataclass
class TrackerOutput:
    frames: np.ndarray  # (n, 4) t, pelvis_deg, trunk_deg, lumbar_deg
    events: list = field(default_factory=list)


class _SensorStream:
    """One sensor: uniform resampling, calibration buffer, fusion, hinge axis, angles."""

    def __init__(self, name: str, rate_hz: float):
        self.name = name
        self.rate = float(rate_hz)
        self.t0: float | None = None
        self.last: tuple[float, np.ndarray] | None = None  # (t, [acc, gyr] (6,))
        self.k_next = 0  # next grid index
        self.holes: list[tuple[float, float, float]] = []
        self.n_samples = 0
        self.lost = 0
        # calibration buffer (grid samples)
        self.buf_t: list[np.ndarray] = []
        self.buf_x: list[np.ndarray] = []
        self.n_buf = 0  # grid samples in the buffer
        # after calibration
        self.fuser: OnlineFuser | None = None
        self.up = None
        self.bias = None
        self.still_q: np.ndarray | None = None
        self.m2 = np.zeros((3, 3))
        self.rotation_deg = 0.0
        self.forward = np.zeros(3)  # summed fast angular velocity before the first axis: the forward sense
        self.ml: np.ndarray | None = None
        self.form: np.ndarray | None = None  # sagittal_form(up, ml) of the current axis
        self.sign = 1.0
        self.zero = 0.0
        self.block: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # pending (t, gyr, q) of the block
        self.block_end: float | None = None
        self.held: list[tuple[np.ndarray, np.ndarray]] = []  # (t, q) waiting for the first axis
        self.out_t: list[np.ndarray] = []
        self.out_theta: list[np.ndarray] = []

    # -- resampling ------------------------------------------------------------------------------
    def resample(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # [previous sample, new samples] (array assignments: cheaper than stacking for a packet's few rows)
        m = 0 if self.last is None else 1
        tt = np.empty(len(t) + m)
        xx = np.empty((len(t) + m, 6))
        tt[m:], xx[m:, :3], xx[m:, 3:] = t, acc, gyr
        if self.t0 is None:
            self.t0 = float(t[0])
        if m:
            tt[0], xx[0] = self.last
        dt = tt[1:] - tt[:-1]
        if len(dt) and dt.min() <= 0:
            raise AnalysisError(f"{self.name}: sample times must increase (at t={tt[1:][dt <= 0][0]:.6f} s)")
        if len(dt) and dt.max() >= 1.4 / self.rate:  # else no hole, nothing lost (holes_and_lost: > 1.5 periods)
            holes, lost = holes_and_lost(tt, 1.0 / self.rate)
            self.holes.extend(tuple(float(v) for v in h) for h in holes)
            self.lost += lost
        self.n_samples += len(t)
        k_last = int(np.floor((tt[-1] - self.t0) * self.rate + 1e-9))
        ks = np.arange(self.k_next, k_last + 1)
        self.k_next = k_last + 1
        self.last = (float(tt[-1]), xx[-1].copy())
        tg = self.t0 + ks / self.rate
        if len(tt) == 1:
            return tg, np.repeat(xx, len(tg), axis=0)
        return tg, resample(tt, xx, tg)

    # -- after calibration -----------------------------------------------------------------------
    def calibrate(self, start: float, end: float) -> None:
        t = np.concatenate(self.buf_t)
        x = np.vstack(self.buf_x)
        still = (t >= start) & (t <= end)
        self.bias = x[still, 3:].mean(axis=0)
        g = x[still, :3].mean(axis=0)
        self.up = g / np.linalg.norm(g)
        self.fuser = OnlineFuser(self.rate, gyr_bias=self.bias, still_bias=False)
        self.block_end = float(t[0]) + BLOCK_S
        self.buf_t, self.buf_x = [], []
        q = self.fuser.update(x[:, :3], x[:, 3:])
        self.still_q = q[still]
        self.track(t, x[:, 3:], q)

    def fuse(self, t: np.ndarray, x: np.ndarray) -> None:
        if len(t):
            self.track(t, x[:, 3:], self.fuser.update(x[:, :3], x[:, 3:]))

    def track(self, t: np.ndarray, gyr: np.ndarray, q: np.ndarray) -> None:
        """Angles for grid samples t with their quaternions; axis blocks closed in order."""
        i = 0
        while i < len(t):
            j = i + int(np.searchsorted(t[i:], self.block_end, side="left"))
            self._emit(t[i:j], q[i:j])
            self.block.append((t[i:j], gyr[i:j], q[i:j]))
            if j == len(t):
                break
            self._close_block()
            i = j

    def _close_block(self) -> None:
        gyr = np.vstack([b[1] for b in self.block]) - self.bias if self.block else np.zeros((0, 3))
        self.block = []
        self.block_end += BLOCK_S
        w = gyr[np.linalg.norm(gyr, axis=1) > FAST_RAD_S]
        if len(w) == 0:
            return
        self.m2 += w.T @ w
        self.rotation_deg += float(np.degrees(np.linalg.norm(w, axis=1).sum() / self.rate))
        if self.ml is None:
            self.forward += w.sum(axis=0)
        if self.rotation_deg < AXIS_MIN_ROTATION_DEG:
            return
        ml = hinge_axis(self.m2, self.up, sensor=self.name)
        if self.ml is None:
            self.sign = 1.0 if float(np.dot(self.forward, ml)) >= 0 else -1.0
            self.ml = ml
            self.form = sagittal_form(self.up, ml)
            self.zero = float(np.mean(self._theta_raw(self.still_q)))
            held, self.held = self.held, []
            for tt, qq in held:
                self._emit(tt, qq)
        else:
            self.ml = ml if float(np.dot(ml, self.ml)) >= 0 else -ml
            self.form = sagittal_form(self.up, self.ml)

    def _theta_raw(self, q: np.ndarray) -> np.ndarray:
        return self.sign * sagittal_angles_deg(q, self.form)

    def _emit(self, t: np.ndarray, q: np.ndarray) -> None:
        if len(t) == 0:
            return
        if self.ml is None:
            self.held.append((t, q))
            return
        # VQF's quaternion k is the orientation at t_k + T/2 (as in analysis.pipeline)
        self.out_t.append(t + 0.5 / self.rate)
        self.out_theta.append(self._theta_raw(q) - self.zero)


class Tracker:
    """Chunk-invariant live analysis of two sensors. rates_hz: nominal rate per sensor (Hz)."""

    def __init__(self, rates_hz: dict[str, float], *, exercise: str = "unknown", settings: Settings | None = None):
        missing = [s for s in SENSORS if s not in rates_hz]
        if missing:
            raise AnalysisError(f"Tracker: no rate given for sensor {missing[0]!r}")
        self.settings = settings or Settings()
        self.exercise = exercise
        self.streams = {name: _SensorStream(name, rates_hz[name]) for name in SENSORS}
        self.rate = max(float(r) for r in rates_hz.values())
        self.calibration: Calibrated | None = None
        self.segmenter = RepSegmenter(self.settings.reps)
        self.reps: list[dict[str, Any]] = []
        self._anchor: float | None = None  # frame k is at anchor + k / rate (integer k: chunking cannot drift it)
        self._next_k = 0
        self._last_frame_t: float | None = None
        self._alerted: dict[str, str] = {}
        self._rep_start: float | None = None
        self._hole_end = -np.inf  # end of the latest hole longer than settings.gap_s (either sensor)
        self._calibrate_at = 0  # grid samples (slowest sensor) at which to look for the still period next

    # -- public API ------------------------------------------------------------------------------
    def feed(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> TrackerOutput:
        """Feed one sensor's new samples: t (n,) s on the common time base, acc (n, 3) m/s², gyr (n, 3) rad/s."""
        if sensor not in self.streams:
            raise AnalysisError(f"Tracker: unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
        t = np.asarray(t, dtype=float).reshape(-1)
        acc = np.asarray(acc, dtype=float).reshape(-1, 3)
        gyr = np.asarray(gyr, dtype=float).reshape(-1, 3)
        events: list = []
        if len(t) == 0:
            return TrackerOutput(np.zeros((0, 4)), events)
        if not (np.isfinite(t).all() and np.isfinite(acc).all() and np.isfinite(gyr).all()):
            raise AnalysisError(f"{sensor}: samples contain NaN or infinite values")
        st = self.streams[sensor]
        n_holes = len(st.holes)
        tg, xg = st.resample(t, acc, gyr)
        for h in st.holes[n_holes:]:
            if h[2] > self.settings.gap_s:
                self._hole_end = max(self._hole_end, h[1])
        if self.calibration is None:
            st.buf_t.append(tg)
            st.buf_x.append(xg)
            st.n_buf += len(tg)
            # look again every 0.1 s of data: the still period found does not depend on when we look
            n_min = min(x.n_buf for x in self.streams.values())
            if n_min >= self._calibrate_at:
                self._calibrate_at = n_min + max(1, int(0.1 * self.rate))
                self._try_calibrate(events)
        else:
            st.fuse(tg, xg)
        frames = self._frames(events)
        return TrackerOutput(frames, events)

    def finish(self) -> TrackerOutput:
        """End of the set: close the rep in progress."""
        events: list = []
        if self._last_frame_t is not None:
            for rec in self.segmenter.finish(self._last_frame_t):
                self._rep_done(rec, events)
        return TrackerOutput(np.zeros((0, 4)), events)

    @property
    def status(self) -> dict[str, Any]:
        """What the window shows: calibration state and per-sensor rate / lost samples / holes."""
        return {
            "calibrated": self.calibration is not None,
            "sensors": {
                n: {"rate_hz": s.rate, "samples": s.n_samples, "lost_samples": s.lost, "holes": len(s.holes)}
                for n, s in self.streams.items()
            },
            "reps": len(self.reps),
        }

    # -- internals -------------------------------------------------------------------------------
    def _try_calibrate(self, events: list) -> None:
        s = self.settings.still
        horizons, masks = [], {}
        for name, st in self.streams.items():
            if not st.buf_t:
                return
            t = np.concatenate(st.buf_t)
            x = np.vstack(st.buf_x)
            w = max(3, int(round(s.window_s * st.rate)))
            if len(t) < 2 * w:
                return
            mask = still_mask(x[:, :3], x[:, 3:], st.rate, s)[: len(t) - w // 2 - 1]  # complete windows only
            masks[name] = (t[: len(mask)], mask)
            horizons.append(t[len(mask) - 1])
        t0 = max(m[0][0] for m in masks.values())
        t1 = min(horizons)
        if t1 <= t0:
            return
        n = int(np.floor((t1 - t0) * self.rate)) + 1
        tc = t0 + np.arange(n) / self.rate
        both = np.ones(n, dtype=bool)
        for tt, m in masks.values():
            both &= np.interp(tc, tt, m.astype(float)) > 0.5
        run = first_run(both, int(s.min_duration_s * self.rate))
        if run is None:
            return
        a, b = run
        max_len = int(self.settings.live_calibration_s * self.rate)
        if b < n and b - a < max_len:  # the still run ended (movement began) before reaching max length
            pass
        elif b - a >= max_len:
            b = a + max_len
        else:
            return  # still standing, not long enough yet
        start, end = float(tc[a]), float(tc[b - 1])
        for st in self.streams.values():
            st.calibrate(start, end)
        self.calibration = Calibrated(end, start, end)
        self._anchor = start
        events.append(self.calibration)

    def _frames(self, events: list) -> np.ndarray:
        if self._anchor is None:
            return np.zeros((0, 4))
        outs = {}
        for name, st in self.streams.items():
            if not st.out_t:
                return np.zeros((0, 4))
            outs[name] = (np.concatenate(st.out_t), np.concatenate(st.out_theta))
        t_first = max(o[0][0] for o in outs.values())
        t_end = min(o[0][-1] for o in outs.values())
        k0 = max(self._next_k, int(np.ceil((t_first - self._anchor) * self.rate - 1e-9)))
        k1 = int(np.floor((t_end - self._anchor) * self.rate + 1e-9))
        if k1 < k0:
            return np.zeros((0, 4))
        tc = self._anchor + np.arange(k0, k1 + 1) / self.rate
        self._next_k = k1 + 1
        pelvis = np.interp(tc, *outs["sacrum"])
        trunk = np.interp(tc, *outs["thoracic"])
        for name, st in self.streams.items():  # keep only what the next frames can still need
            tt, th = outs[name]
            keep = max(0, int(np.searchsorted(tt, tc[-1], side="right")) - 1)
            st.out_t, st.out_theta = [tt[keep:]], [th[keep:]]
        # frame by frame: alerts carry the exact frame time, whatever the chunking
        for tk, trk, pk in zip(tc.tolist(), trunk.tolist(), pelvis.tolist(), strict=True):
            for rec in self.segmenter.feed_one(tk, trk, pk):
                self._rep_done(rec, events)
            self._alerts(tk, events)
        self._last_frame_t = float(tc[-1])
        out = np.empty((len(tc), 4))
        out[:, 0], out[:, 1], out[:, 2] = tc, pelvis, trunk
        out[:, 3] = trunk - pelvis
        return out

    def _holes(self) -> list[np.ndarray]:
        gap = self.settings.gap_s
        return [np.array([h for h in st.holes if h[2] > gap]).reshape(-1, 3) for st in self.streams.values()]

    def _rep_done(self, rec, events: list) -> None:
        self._alerted = {}
        if not rec.valid:
            return
        rep = rep_dict(len(self.reps) + 1, rec, self._holes(), self.settings)
        self.reps.append(rep)
        events.append(Rep(rec.end_s, rep))

    def _alerts(self, t_now: float, events: list) -> None:
        """Raise each fault kind once per rep, as soon as the rep in progress crosses its limit."""
        c = self.segmenter.current
        if c is None or c.bottom_t == -np.inf:
            return
        s = self.settings
        if (
            c.bottom_t - c.before_min_t < s.reps.min_rom_deg
            or c.pelvis_max - c.pelvis_min_before < s.reps.min_pelvis_deg
        ):
            return  # not (yet) a hinge rep
        if self._hole_end > c.start_s:
            return  # data hole inside the rep: it will not be judged
        values = {
            "trunk_top_deg": c.top_t,
            "pelvis_top_deg": c.top_p,
            "lumbar_top_deg": c.top_l,
            "lumbar_flexion_max_deg": c.lumbar_max,
        }
        for kind, (metric, cue) in FAULTS.items():
            value = values[metric]
            if not math.isfinite(value):
                continue
            severity = s.limits.severity(kind, value)
            if severity and self._alerted.get(kind) != "fault" and self._alerted.get(kind) != severity:
                self._alerted[kind] = severity
                events.append(Alert(t_now, kind, severity, round(float(value), 1), cue))
