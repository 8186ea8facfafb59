"""Live tracker: the analysis core (`hinge.analysis.core`) run causally, chunk by chunk, while a set is lifted.

    tracker = Tracker({"sacrum": 100.0, "thoracic": 100.0})
    out = tracker.feed("sacrum", t, acc, gyr)      # any chunk sizes, sensors interleaved
    out.frames   # (n, 4): t, pelvis_deg, trunk_deg, lumbar_deg on the common grid
    out.events   # Calibrated, Alert (a limit crossed, raised at once), Rep (a finished rep, analyzer dict),
                 # Remeasured (a rep after a data hole, measured again seconds later), Placement

Per sensor: uniform resampling (holes remembered; gyro holes bridged from the other sensor's motion,
`hinge.analysis.bridge`, with the very rows the offline bridge reads), still flags
(`hinge.analysis.still`), and causal VQF. The fusion holds its first seconds until the sensor's first
still period gives the gyro bias (at most `NeutralSettings.fallback_s`; then VQF's own estimate).
Both sensors, frame by frame on the common grid and in time order: the neutral posture
(`NeutralFinder`: the first both-still period; with none after `fallback_s` the same fallbacks as offline
— a pause, else the quietest second — refined when a still period comes), the sagittal axes
(`AxisLearner`, re-solved each time a thoracic excursion ends; frames wait for the first forward bend),
the angles and the `RepSegmenter`. Every decision happens at a frame fixed by the data, never by when a
chunk arrived, so the output is bit-identical however the stream is chunked. Memory is bounded whatever
the user does before calibrating.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hinge.analysis.bridge import bridge_hole, hole_rows
from hinge.analysis.calibration import Axes, AxisLearner, NeutralFinder, gravity_in_sensor, tilt
from hinge.analysis.core import (
    OTHER,
    SENSORS,
    SWAP_MESSAGE,
    PlacementCheck,
    Settings,
    check_transfer,
    frame_angles,
    gravity_on_grid,
    hip_rise_so_far_m,
    hip_vertical_acc,
    neutral_up,
    quat_shift_s,
    rep_dict,
    swap_no_hinge_message,
    thorax_like_sacrum,
)
from hinge.analysis.errors import AnalysisError
from hinge.analysis.faults import FAULTS
from hinge.analysis.fusion import OnlineFuser, still_gyro_bias
from hinge.analysis.revise import hole_before
from hinge.analysis.segmenter import RepRecord, RepSegmenter, segment
from hinge.analysis.still import StillDetector, StillPeriodFinder
from hinge.analysis.timing import holes_and_lost, resample

_OUT_COLS = 9  # t, g (3), acc (3), still, motion
HOLD_FRAMES_S = 60.0  # frames kept while waiting for the first forward bend
BRIDGE_CONTEXT_S = 60.0  # bridge context kept at most (the other sensor may lag this much and still be bridged)
SEATING_SPEED_M_S = 0.1  # hips going down faster than this while upright may be sitting down
RECENT_FRAMES_S = 30.0  # (t, hip vertical acceleration, lean) kept for the sit/stand check of a rep


@dataclass(frozen=True)
class Calibrated:
    """The neutral posture was found (quality "ok") or, with no still period yet, assumed
    ("short_still": a pause; "no_still_period": the quietest second); a later "ok" refines it."""

    t: float
    neutral_start_s: float
    neutral_end_s: float
    quality: str = "ok"


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


@dataclass(frozen=True)
class Remeasured:
    """A rep after a data hole, measured again once the seconds after it were in (`hinge.analysis.revise`):
    `rep` replaces the rep of the same index (its figures and faults; the count and the cues stand)."""

    t: float
    rep: dict[str, Any]


def final_reps(events: list) -> list[dict[str, Any]]:
    """The reps as finally reported by a run's events: `Rep`s, each replaced by its `Remeasured` if any."""
    reps: list[dict[str, Any]] = []
    for e in events:
        if isinstance(e, Rep):
            reps.append(e.rep)
        elif isinstance(e, Remeasured):
            reps[e.rep["index"] - 1] = e.rep
    return reps


@dataclass(frozen=True)
class Placement:
    """The placement check (`hinge.analysis.core.PlacementCheck`) changed its mind after a rep: while
    `swap_suspected`, reps are counted but their faults are withheld and no alert is raised."""

    t: float
    swap_suspected: bool
    message: str


@dataclass
class TrackerOutput:
    frames: np.ndarray  # (n, 4) t, pelvis_deg, trunk_deg, lumbar_deg
    events: list = field(default_factory=list)


class _SensorStream:
    """One sensor: uniform resampling, gyro holes bridged with the other sensor's motion, still flags,
    fusion (held until the gyro bias is known).

    Grid rows wait in `pending` from the first row of a hole that can be bridged
    (`hinge.analysis.bridge`) until both sensors' grids reach `fit_after_s` past it, so that the bridge
    sees what the offline one sees. (That costs no latency: frames on the common grid wait for the slower
    sensor anyway.) `passed` keeps the rows passed on that a bridge of either sensor, or the re-measuring of
    a rep after a hole (`hinge.analysis.revise`), may still read."""

    def __init__(self, name: str, rate_hz: float, settings: Settings):
        self.name = name
        self.rate = float(rate_hz)
        self.bridge = settings.bridge
        self.t0: float | None = None
        self.tail_t = np.zeros(0)  # the last (up to 3) samples: context for the next chunk's interpolation
        self.tail_x = np.zeros((0, 6))
        self.k_next = 0  # next grid index
        self.holes: list[tuple[float, float, float]] = []
        self.n_samples = 0
        self.lost = 0
        self.open: list[tuple[float, float]] = []  # holes to bridge whose rows are still pending
        self.pending: list[np.ndarray] = []  # grid rows t, acc, gyr not passed on yet
        self.passed: list[np.ndarray] = []  # grid rows t, acc, gyr passed on (one array per release)
        self.last_t = -np.inf  # newest grid time
        self.still = StillDetector(rate_hz, settings.still)
        self.bias_finder = StillPeriodFinder(rate_hz, settings.still)
        self.max_hold = int(round(settings.neutral.fallback_s * rate_hz))
        self.held: list[np.ndarray] = []  # grid rows t, acc, gyr, still, motion waiting for the bias
        self.n_held = 0
        self.fuser: OnlineFuser | None = None
        self.bias: np.ndarray | None = None  # the gyro bias the fusion started with (None: VQF's own)
        self.shift = quat_shift_s(rate_hz, settings.samples)
        self.out: list[np.ndarray] = []  # fused rows (see _OUT_COLS)

    def feed(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        n_holes = len(self.holes)
        tg, xg = self._resample(t, acc, gyr)
        self.open += [(tb, ta) for tb, ta, missing in self.holes[n_holes:] if self.bridge.takes(tb, ta, missing)]
        if len(tg):
            self.pending.append(np.column_stack((tg, xg)))
            self.last_t = float(tg[-1])

    def release(self, other: _SensorStream, final: bool = False) -> None:
        """Pass on the pending rows up to the first hole that cannot be bridged yet (`final`: the data
        ended, bridge with what there is)."""
        if not self.pending:
            return
        rows = self.pending[0] if len(self.pending) == 1 else np.vstack(self.pending)
        while self.open:
            tb, ta = self.open[0]
            need = ta + self.bridge.fit_after_s
            if not final and min(self.last_t, other.last_t) < need:
                break
            since = tb - self.bridge.fit_before_s - 0.1  # what a bridge reads starts after this
            own = np.vstack((*self.passed_since(since), rows))
            theirs = np.vstack((*other.passed_since(since), *other.pending, np.zeros((0, 7))))
            bridged = bridge_hole(
                own[:, 0], own[:, 4:7], (tb, ta), np.array(self.holes).reshape(-1, 3),
                theirs[:, 0], theirs[:, 4:7], np.array(other.holes).reshape(-1, 3), self.bridge,
            )
            if bridged is not None:
                lo, hi = hole_rows(rows[:, 0], tb, ta)
                rows[lo:hi, 4:7] = bridged
            self.open.pop(0)
        cut = hole_rows(rows[:, 0], *self.open[0])[0] if self.open else len(rows)
        self.pending = [rows[cut:]] if cut < len(rows) else []
        if cut:
            self._pass_on(rows[:cut])

    @property
    def horizon(self) -> float:
        """The earliest hole start a bridge of this sensor may still need context for."""
        return self.open[0][0] if self.open else self.last_t

    def forget(self, horizon: float, keep_from: float) -> None:
        """Forget passed rows that nothing reads any more: older than the fit window of the bridges to come
        (before `horizon`, the earlier of the two sensors'; at most `BRIDGE_CONTEXT_S` behind this sensor's
        newest row) and than `keep_from` (what a re-measuring may still read, `Tracker._keep_from`)."""
        t = min(max(horizon - self.bridge.fit_before_s - 0.1, self.last_t - BRIDGE_CONTEXT_S), keep_from)
        while len(self.passed) > 1 and self.passed[1][0, 0] <= t:
            self.passed.pop(0)

    def passed_since(self, t: float) -> list[np.ndarray]:
        """The passed row arrays that reach time t or later, oldest first."""
        k = len(self.passed)
        while k and self.passed[k - 1][-1, 0] >= t:
            k -= 1
        return self.passed[k:]

    def rows(self, t_from: float, t_to: float) -> np.ndarray:
        """Passed grid rows (t, acc, gyr) with t_from <= t <= t_to."""
        rows = np.vstack((*self.passed_since(t_from), np.zeros((0, 7))))
        return rows[(rows[:, 0] >= t_from) & (rows[:, 0] <= t_to)]

    def _pass_on(self, grid: np.ndarray) -> None:
        self.passed.append(grid)
        tg, xg = grid[:, 0], grid[:, 1:7]
        flags, motion = self.still.feed(xg[:, :3], xg[:, 3:])
        rows = np.column_stack((tg, xg, flags, motion))
        if self.fuser is not None:
            self._fuse(rows)
            return
        self.held.append(rows)
        self.n_held += len(rows)
        self.bias_finder.feed(flags)
        if self.bias_finder.period is None and self.n_held < self.max_hold:
            return
        held = np.vstack(self.held)
        self.held = []
        bias, level = None, held[0, 1:4]
        if self.bias_finder.period is not None:
            a, b = self.bias_finder.period
            bias, level = still_gyro_bias(held[a:b, 1:4], held[a:b, 4:7], self.rate), held[a, 1:4]
        self.fuser = OnlineFuser(self.rate, gyr_bias=bias, still_bias=False, init_acc=level)
        self.bias = bias
        self._fuse(held)

    def _fuse(self, rows: np.ndarray) -> None:
        q = self.fuser.update(rows[:, 1:4], rows[:, 4:7])
        out = np.empty((len(rows), _OUT_COLS))
        out[:, 0] = rows[:, 0] + self.shift
        out[:, 1:4] = gravity_in_sensor(q)
        out[:, 4:7] = rows[:, 1:4]
        out[:, 7:9] = rows[:, 7:9]
        self.out.append(out)

    def _resample(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New samples onto the sensor's uniform grid, as `hinge.analysis.timing.resample` does offline (linear;
        straight across holes, whose gyro `release` bridges): grid points up to the second-newest sample
        go out, the newest interval waits for its right-hand neighbour; the last 3 samples are kept."""
        m = len(self.tail_t)
        tt = np.empty(len(t) + m)
        xx = np.empty((len(t) + m, 6))
        tt[:m], xx[:m] = self.tail_t, self.tail_x
        tt[m:], xx[m:, :3], xx[m:, 3:] = t, acc, gyr
        if self.t0 is None:
            self.t0 = float(t[0])
        dt = tt[max(0, m - 1) + 1 :] - tt[max(0, m - 1) : -1]  # spacings that involve a new sample
        if len(dt) and dt.min() <= 0:
            raise AnalysisError(f"{self.name}: sample times must increase (at t={tt[m:][dt <= 0][0]:.6f} s)")
        if len(dt) and dt.max() >= 1.4 / self.rate:  # else no hole, nothing lost (holes_and_lost: > 1.5 periods)
            holes, lost = holes_and_lost(tt[max(0, m - 1) :], 1.0 / self.rate)
            self.holes.extend(tuple(float(v) for v in h) for h in holes)
            self.lost += lost
        self.n_samples += len(t)
        self.tail_t, self.tail_x = tt[-3:].copy(), xx[-3:].copy()
        if len(tt) < 2:
            return np.zeros(0), np.zeros((0, 6))
        k_last = int(np.floor((tt[-2] - self.t0) * self.rate + 1e-9))
        ks = np.arange(self.k_next, k_last + 1)
        self.k_next = max(self.k_next, k_last + 1)
        tg = self.t0 + ks / self.rate
        return tg, resample(tt, xx, tg)


@dataclass
class _Block:
    """Frames on the common grid: both sensors' columns interpolated at t."""

    t: np.ndarray
    g: dict[str, np.ndarray]
    acc: dict[str, np.ndarray]
    both: np.ndarray
    motion: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def part(self, a: int, b: int | None = None) -> _Block:
        s = slice(a, b)
        return _Block(
            self.t[s], {k: v[s] for k, v in self.g.items()}, {k: v[s] for k, v in self.acc.items()},
            self.both[s], self.motion[s],
        )

    @staticmethod
    def join(blocks: list[_Block]) -> _Block:
        return _Block(
            np.concatenate([b.t for b in blocks]),
            {k: np.vstack([b.g[k] for b in blocks]) for k in SENSORS},
            {k: np.vstack([b.acc[k] for b in blocks]) for k in SENSORS},
            np.concatenate([b.both for b in blocks]),
            np.concatenate([b.motion for b in blocks]),
        )


class Tracker:
    """Chunk-invariant live analysis of two sensors. rates_hz: nominal rate per sensor (Hz)."""

    def __init__(self, rates_hz: dict[str, float], *, exercise: str = "unknown", settings: Settings | None = None):
        missing = [s for s in SENSORS if s not in rates_hz]
        if missing:
            raise AnalysisError(f"Tracker: no rate given for sensor {missing[0]!r}")
        self.settings = settings or Settings()
        self.exercise = exercise
        self.streams = {name: _SensorStream(name, rates_hz[name], self.settings) for name in SENSORS}
        self.rate = max(float(r) for r in rates_hz.values())
        self.calibration: Calibrated | None = None
        self.axes: Axes | None = None
        self.segmenter = RepSegmenter(self.settings.reps)
        self.reps: list[dict[str, Any]] = []
        self._finder = NeutralFinder(self.rate, self.settings.still, self.settings.neutral)
        self._refiner: NeutralFinder | None = None
        self._learner: AxisLearner | None = None
        self._history: list[_Block] = []  # recent frames, for the neutral window's vertical
        self._held: list[_Block] = []  # calibrated frames waiting for the first axes
        self._anchor: float | None = None  # frame k is at anchor + k / rate (integer k: chunking cannot drift it)
        self._next_k = 0
        self._last_frame_t: float | None = None
        self._alerted: dict[str, str] = {}
        self._hole_end = -np.inf  # end of the latest hole longer than settings.gap_s (either sensor)
        self._g0 = 9.81  # the sacrum's specific force at neutral (m/s²)
        self._recent: list[np.ndarray] = []  # (n, 3) t, hip vertical acceleration, lean
        self._placement = PlacementCheck(self.settings.swap_margin_deg)
        self.swap_suspected = False
        self._seated = False  # the last sit/stand the check rejected was sitting down
        self._transfer_rep = -np.inf  # start of the rep in progress once it is known to be a sit or stand
        # reps after a hole to measure again (`hinge.analysis.revise`): (due, fusion window start, record, rep)
        self._waiting: list[tuple[float, float, RepRecord, dict[str, Any]]] = []

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
        st.feed(t, acc, gyr)
        for h in st.holes[n_holes:]:
            if h[2] > self.settings.gap_s:
                self._hole_end = max(self._hole_end, h[1])
        for name, s in self.streams.items():
            s.release(self.streams[OTHER[name]])
        horizon, keep = min(s.horizon for s in self.streams.values()), self._keep_from()
        for s in self.streams.values():
            s.forget(horizon, keep)
        block = self._block()
        frames = self._process(block, events) if block is not None else np.zeros((0, 4))
        return TrackerOutput(frames, events)

    def finish(self) -> TrackerOutput:
        """End of the set: close the rep in progress."""
        events: list = []
        for name, s in self.streams.items():
            s.release(self.streams[OTHER[name]], final=True)
        block = self._block()
        frames = self._process(block, events) if block is not None else np.zeros((0, 4))
        if self.axes is None and self._held and self._learner is not None:  # a single bend: take what there is
            out: list = []
            self._new_axes(self._learner.axes(), out, events)
            frames = np.vstack([frames, *out])
        if self._last_frame_t is not None and self.axes is not None:
            for rec in self.segmenter.finish(self._last_frame_t):
                self._rep_done(rec, events)
        self._report_waiting(np.inf, events)
        return TrackerOutput(frames, events)

    @property
    def status(self) -> dict[str, Any]:
        """What the window shows: calibration state and per-sensor rate / lost samples / holes."""
        return {
            "calibrated": self.calibration is not None,
            "calibration_quality": self.calibration.quality if self.calibration else None,
            "axes": self.axes is not None,
            "sensors": {
                n: {"rate_hz": s.rate, "samples": s.n_samples, "lost_samples": s.lost, "holes": len(s.holes)}
                for n, s in self.streams.items()
            },
            "reps": len(self.reps),
            "swap_suspected": self.swap_suspected,
        }

    # -- frames on the common grid ---------------------------------------------------------------
    def _block(self) -> _Block | None:
        outs = {}
        for name, st in self.streams.items():
            if not st.out:
                return None
            if len(st.out) > 1:
                st.out = [np.vstack(st.out)]
            outs[name] = st.out[0]
        if self._anchor is None:
            self._anchor = max(o[0, 0] for o in outs.values())
        t_end = min(o[-1, 0] for o in outs.values())
        k1 = int(np.floor((t_end - self._anchor) * self.rate + 1e-9))
        if k1 < self._next_k:
            return None
        tc = self._anchor + np.arange(self._next_k, k1 + 1) / self.rate
        self._next_k = k1 + 1
        g, acc = {}, {}
        both = np.ones(len(tc), dtype=bool)
        motion = np.zeros(len(tc))
        for name, o in outs.items():
            cols = resample(o[:, 0], o[:, 1:], tc)
            gn = cols[:, 0:3]
            g[name] = gn / np.linalg.norm(gn, axis=1, keepdims=True)
            acc[name] = cols[:, 3:6]
            both &= cols[:, 6] > 0.5
            motion += cols[:, 7]
            keep = max(0, int(np.searchsorted(o[:, 0], tc[-1], side="right")) - 1)
            self.streams[name].out = [o[keep:]]  # only what the next frames can still need
        return _Block(tc, g, acc, both, motion)

    def _process(self, block: _Block, events: list) -> np.ndarray:
        """Run the core over the new frames in time order; returns the frames that can be shown."""
        out: list[np.ndarray] = []
        s = self.settings
        if self.calibration is None:
            self._remember(block)
            # the fallback, if no still period comes first, happens at a frame fixed by the data
            m = int(np.searchsorted(block.t, self._anchor + s.neutral.fallback_s))
            j = self._finder.feed(block.t[:m], block.both[:m], block.motion[:m])
            if j is not None:
                found = (*self._finder.found, "ok")
            elif m < len(block):
                j = m
                found = self._finder.fallback()
            else:
                return np.zeros((0, 4))
            # the frames from the neutral window's start on are analysed too; after a fallback, every frame
            # since the start (the set began without a stand: its first reps are in there)
            hist = _Block.join(self._history)
            t_cut = block.t[j] if j < len(block) else np.inf
            first = int(np.searchsorted(hist.t, found[0])) if found[2] == "ok" else 0
            block = _Block.join([hist.part(first, int(np.searchsorted(hist.t, t_cut))), block.part(j)])
            self._calibrate(*found, events)
        elif self._refiner is not None:
            self._remember(block)
        refine_at = None
        if self._refiner is not None:
            refine_at = self._refiner.feed(block.t, block.both, block.motion)
        i, n = 0, len(block)
        while i < n:
            stop = n if refine_at is None or refine_at < i else refine_at
            if stop == i:  # a real still period came: the neutral is refined from this frame on
                self._refine(events)
                refine_at = None
                continue
            k, closed = self._learner.feed(block.g["sacrum"][i:stop], block.g["thoracic"][i:stop])
            part = block.part(i, i + k)
            if self.axes is None:
                self._swap_without_hinge(part, events)
                self._held.append(part)
                self._trim(self._held, HOLD_FRAMES_S)
            else:
                out.append(self._emit(part, events))
            i += k
            if closed:
                self._new_axes(self._learner.axes(confirmed=True), out, events)
        return np.vstack(out) if out else np.zeros((0, 4))

    def _swap_without_hinge(self, part: _Block, events: list) -> None:
        """No axes yet, and a frame where the sacrum leans as only a thorax does (`thorax_like_sacrum`): the
        sensors look swapped, said at the first such frame (reps, if any come, will say again)."""
        if self.swap_suspected or not len(part):
            return
        up = self._learner.up
        hits = thorax_like_sacrum(tilt(part.g["sacrum"], up["sacrum"])[1], tilt(part.g["thoracic"], up["thoracic"])[1],
                                  self.settings)
        if hits.any():
            self.swap_suspected = True
            events.append(Placement(float(part.t[int(np.argmax(hits))]), True, swap_no_hinge_message(self.settings)))

    def _new_axes(self, axes: Axes | None, out: list, events: list) -> None:
        """Axes re-solved after an excursion: the held frames go out with the first ones; later ones apply
        from the next frame (None — e.g. side bends only so far — keeps what there is)."""
        if axes is None:
            return
        first = self.axes is None
        self.axes = axes
        if first:
            held, self._held = self._held, []
            if held:
                out.append(self._emit(_Block.join(held), events))

    def _emit(self, part: _Block, events: list) -> np.ndarray:
        ang = frame_angles(part.g["sacrum"], part.g["thoracic"], self.axes)
        lean = ang.lean
        hip_az = hip_vertical_acc(part.acc["sacrum"], part.g["sacrum"], self._g0)
        self._recent.append(np.column_stack((part.t, hip_az, lean)))
        while len(self._recent) > 1 and self._recent[0][-1, 0] < part.t[-1] - RECENT_FRAMES_S:
            self._recent.pop(0)
        rows = np.empty((len(part), 4))
        rows[:, 0], rows[:, 1], rows[:, 2] = part.t, ang.pelvis, ang.trunk
        rows[:, 3] = ang.lumbar
        # frame by frame: alerts carry the exact frame time, whatever the chunking
        for tk, trk, pk, lk, sk in zip(
            part.t.tolist(), ang.trunk.tolist(), ang.pelvis.tolist(), lean.tolist(), ang.side.tolist(),
            strict=True,
        ):
            for rec in self.segmenter.feed_one(tk, trk, pk, lk, sk):
                self._rep_done(rec, events)
            self._alerts(tk, events)
            if self._waiting and tk >= self._waiting[0][0]:
                self._report_waiting(tk, events)
        if len(part):
            self._last_frame_t = float(part.t[-1])
        return rows

    # -- calibration ------------------------------------------------------------------------------
    def _remember(self, block: _Block) -> None:
        self._history.append(block)
        self._trim(self._history, self.settings.neutral.fallback_s + self.settings.neutral.max_use_s + 1.0)

    @staticmethod
    def _trim(blocks: list[_Block], keep_s: float) -> None:
        t_last = blocks[-1].t[-1] if blocks and len(blocks[-1]) else None
        while t_last is not None and len(blocks) > 1 and len(blocks[0]) and blocks[0].t[-1] < t_last - keep_s:
            blocks.pop(0)

    def _neutral_at(self, start: float, end: float, quality: str) -> dict[str, np.ndarray]:
        """Each sensor's vertical over the neutral window [start, end] of the frame history; also sets the
        sacrum's specific force there (`_g0`, for the sit/stand check)."""
        hist = _Block.join(self._history)
        sel = (hist.t >= start) & (hist.t <= end)
        if not sel.any():
            sel[int(np.argmin(np.abs(hist.t - start)))] = True
        self._g0 = float(np.linalg.norm(hist.acc["sacrum"][sel].mean(axis=0)))
        return {name: neutral_up(hist.acc[name][sel], hist.g[name][sel], quality) for name in SENSORS}

    def _calibrate(self, start: float, end: float, quality: str, events: list) -> None:
        ups = self._neutral_at(start, end, quality)
        self._learner = AxisLearner(ups["sacrum"], ups["thoracic"], self.settings.axes)
        self.calibration = Calibrated(end, start, end, quality)
        events.append(self.calibration)
        if quality != "ok":
            self._refiner = NeutralFinder(self.rate, self.settings.still, self.settings.neutral)
        else:
            self._history = []

    def _refine(self, events: list) -> None:
        start, end = self._refiner.found
        ups = self._neutral_at(start, end, "ok")
        self._learner.set_up(ups["sacrum"], ups["thoracic"])
        if self.axes is not None:
            self.axes = self._learner.axes() or self.axes
        self._refiner = None
        self._history = []
        self.calibration = Calibrated(end, start, end, "ok")
        events.append(self.calibration)

    # -- reps and alerts --------------------------------------------------------------------------
    def _holes(self) -> list[np.ndarray]:
        gap = self.settings.gap_s
        return [np.array([h for h in st.holes if h[2] > gap]).reshape(-1, 3) for st in self.streams.values()]

    def _rep_done(self, rec, events: list) -> None:
        self._alerted = {}
        if rec.valid:
            recent = np.vstack(self._recent)
            rec, rise = check_transfer(rec, recent[:, 0], recent[:, 1], recent[:, 2], self.settings)
            if not rec.valid:  # sat down or stood up: the next excursion starts seated or standing
                self._seated = rise < 0
        if not rec.valid:
            return
        rep = self._report(rec, events)
        rv = self.settings.revise
        hole = hole_before(rec, [np.array(st.holes).reshape(-1, 3) for st in self.streams.values()], rv)
        if hole is not None:
            start = max(min(hole, rec.start_s) - rv.before_s, rec.end_s - rv.keep_s)
            self._waiting.append((rec.end_s + rv.lag_s, start, rec, rep))

    def _keep_from(self) -> float:
        """The oldest grid row a re-measuring may still read: the waiting reps' windows, and `keep_s` before
        the oldest frame a rep may still end at (the newest frame segmented, else the frames held for the
        neutral or the axes). Before any frame the rows wait: frames need both sensors, so these rows are
        bounded like the streams' own output."""
        oldest = [self._last_frame_t] if self._last_frame_t is not None else []
        oldest += [float(b.t[0]) for b in (*self._held[:1], *self._history[:1]) if len(b)]
        if not oldest:
            return -np.inf
        return min([min(oldest) - self.settings.revise.keep_s - 1.0, *(w[1] for w in self._waiting)])

    def _report_waiting(self, t_now: float, events: list) -> None:
        """Re-measure the reps after a hole that are due by frame t_now, on the grid rows up to their due
        time (`remeasure`); a rep whose figures change is reported again (`Remeasured`)."""
        while self._waiting and self._waiting[0][0] <= t_now:
            due, start, rec, rep = self._waiting.pop(0)
            again = self._remeasured(rec, start, due)
            if again is rec:
                continue
            new = rep_dict(rep["index"], again, self._holes(), self.settings, withheld="withheld" in rep)
            if new != rep:
                self.reps[rep["index"] - 1] = new
                events.append(Remeasured(due, new))

    def _remeasured(self, rec: RepRecord, start: float, end: float) -> RepRecord:
        """`remeasure` on the frames of the common grid within [start, end] that both sensors' passed rows cover."""
        grids, rates, biases = {}, {}, {}
        for name, st in self.streams.items():
            rows = st.rows(start - 2.0 / st.rate, end)
            grids[name], rates[name], biases[name] = (rows[:, 0], rows[:, 1:4], rows[:, 4:7]), st.rate, st.bias
        t_lo = max(start, *(g[0][0] + self.streams[n].shift for n, g in grids.items() if len(g[0])))
        t_hi = min(end, *(g[0][-1] + self.streams[n].shift for n, g in grids.items() if len(g[0])))
        if any(len(g[0]) < 30 for g in grids.values()) or t_hi - t_lo < 1.0:
            return rec
        k0 = math.ceil((t_lo - self._anchor) * self.rate - 1e-9)
        k1 = math.floor((t_hi - self._anchor) * self.rate + 1e-9)
        tc = self._anchor + np.arange(k0, k1 + 1) / self.rate
        return remeasure(rec, tc, grids, rates, biases, self.axes, self.settings)

    def _report(self, rec: RepRecord, events: list) -> dict[str, Any]:
        self._placement.add(rec)
        if self._placement.doubt() != self.swap_suspected:
            self.swap_suspected = not self.swap_suspected
            events.append(Placement(rec.end_s, self.swap_suspected, SWAP_MESSAGE if self.swap_suspected else ""))
        rep = rep_dict(len(self.reps) + 1, rec, self._holes(), self.settings, withheld=self.swap_suspected)
        self.reps.append(rep)
        events.append(Rep(rec.end_s, rep))
        return rep

    def _alerts(self, t_now: float, events: list) -> None:
        """Raise each fault kind once per rep, as soon as the rep in progress crosses its limit."""
        c = self.segmenter.current
        if c is None or c.bottom_t == -np.inf:
            return
        s = self.settings
        # the rep gate's range is depth − max(top, the low before it); the top is not known yet, and a rep
        # comes back to the neutral (0°): a squat down to the weight leaning 20° is not a hinge
        depth = c.bottom_t - max(c.before_min_t, 0.0)
        if depth < s.reps.min_rom_deg or c.side_max > s.reps.max_side_ratio * c.bottom_t:
            return  # not (yet) a hinge rep
        if self._hole_end > c.start_s:
            return  # data hole inside the rep: it will not be judged
        if self._placement.doubt(c.pelvis_max - c.bottom_t):
            return  # the sensors look swapped: no cue from swapped angles
        if self._seated and c.top_s is None:
            return  # after sitting down, a bend is told from standing up only once it is upright again
        values = {
            "trunk_top_deg": c.top_t,
            "pelvis_top_deg": c.top_p,
            "lumbar_top_deg": c.top_l,
            "lumbar_flexion_max_deg": c.lumbar_max,
        }
        due = []
        for kind, (metric, cue) in FAULTS.items():
            value = values[metric]
            if not math.isfinite(value):
                continue
            severity = s.limits.severity(kind, value)
            if severity and self._alerted.get(kind) != "fault" and self._alerted.get(kind) != severity:
                due.append((kind, severity, value, cue))
        if due and c.top_s is not None:  # upright again: are the hips where they were before the rep?
            if self._transfer_rep == c.start_s:
                return
            rise, v = self._rise_so_far(c.start_s, t_now)
            if abs(rise) > s.max_hip_rise_m:  # far lower or higher: sitting down or standing up, no cue
                self._transfer_rep = c.start_s
                return
            if rise < -0.5 * s.max_hip_rise_m and v < -SEATING_SPEED_M_S:
                return  # low and still going down, upright: maybe onto a seat; the next frames tell
        for kind, severity, value, cue in due:
            self._alerted[kind] = severity
            events.append(Alert(t_now, kind, severity, round(float(value), 1), cue))

    def _rise_so_far(self, start_s: float, t_now: float) -> tuple[float, float]:
        """How far (m) the hips are now above where they were before the rep in progress began, and how
        fast they move (m/s) (`hip_rise_so_far_m`; the sit/stand check `check_transfer` allows
        `max_hip_rise_m`)."""
        recent = np.vstack(self._recent)
        k = int(np.searchsorted(recent[:, 0], t_now, side="right"))
        return hip_rise_so_far_m(recent[:k, 0], recent[:k, 1], recent[:k, 2], start_s)


def remeasure(
    rec: RepRecord,
    tc: np.ndarray,
    grids: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    rates_hz: dict[str, float],
    biases: dict[str, np.ndarray | None],
    axes: Axes,
    settings: Settings,
) -> RepRecord:
    """The rep `rec` measured again on the frames tc (s, uniform) from each sensor's grid rows
    (t, acc m/s², gyr rad/s — bridged, as the live fusion saw them) the offline way: offline fusion with the
    gyro bias the live fusion started with (`gravity_on_grid`), the zero-phase low-pass, the segmenter.
    Returns the record found again (its validity the live one's), or `rec` itself when the window does not
    hold a rep starting and ending within `match_s` of where it did."""
    g = {}
    for name in SENSORS:
        t, acc, gyr = grids[name]
        ts = t + quat_shift_s(rates_hz[name], settings.samples)
        g[name] = gravity_on_grid(acc, gyr, rates_hz[name], ts, tc, offline=True, bias=biases[name],
                                  still_settings=settings.still)
    rate = 1.0 / float(tc[1] - tc[0])
    ang = frame_angles(g["sacrum"], g["thoracic"], axes).lowpassed(rate, settings.lowpass_hz)
    tol = settings.revise.match_s
    for r in segment(tc, ang.trunk, ang.pelvis, settings.reps, lean=ang.lean, side=ang.side):
        if abs(r.start_s - rec.start_s) <= tol and abs(r.end_s - rec.end_s) <= tol and r.top_s is not None:
            return dataclasses.replace(r, valid=rec.valid)
    return rec
