"""Sensor-to-segment calibration, one implementation for offline analysis and the live tracker.

No manual steps; straps on in any orientation, standing or seated.

**Neutral posture** (`NeutralFinder`): the first period where both sensors are still for
`min_duration_s` (`hinge.analysis.still`; at most `max_duration_s` of it is used). There, each sensor's mean
specific force is its segment's vertical `up` (sensor frame). Fallbacks, in order, when no such period
exists: the first pause of `min_pause_s` (e.g. a lockout), else the quietest second near the start.
Offline looks at the whole set; live decides when a still period ends or reaches its cap, falls back
after `fallback_s` of data and refines when a real still period comes.

**Sagittal plane** (`AxisLearner`): where gravity moves in the sensor frame during big forward bends.
For each sensor the *tilt vector* τ = −(g − (g·up) up) (g: gravity direction in the sensor frame from
the fused orientation) points the way the segment leans; |τ| = sin(inclination). An axial twist does
not move g at all, walking and turning move it a few degrees, a side bend moves it sideways, a hinge
moves it forward — far, and to one side only. So the thorax's inclination is cut into *excursions*
(above `enter_deg`, back below `exit_deg`); each excursion that leans at least `min_peak_deg` leaves
one summary: Σ τ_thorax·incl and Σ τ_pelvis·incl over its samples. Excursions whose directions agree
within `cluster_deg` form clusters; a cluster's score is its summed peak inclination minus that of the
opposite cluster, so symmetric side bends (left and right) cancel and the one-sided hinge wins. The
thorax's forward direction is the best cluster's mean direction, the pelvis's forward direction the
mean pelvis tilt over the same excursions (the pelvis tilts forward, a little or a lot, when the trunk
bends forward; stoop bends leave it nearly still, which then hardly matters for its angle). No
forward excursion: no axes, no reps — a warning, not an error.

Angles from these axes: `hinge.analysis.angles`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hinge.analysis.segmenter import first_index
from hinge.analysis.still import StillSettings, runs


def gravity_in_sensor(quat: np.ndarray) -> np.ndarray:
    """Earth's up direction in the sensor frame, (n, 3) unit vectors, from quaternions (n, 4) w, x, y, z
    rotating sensor → earth (z up): the third row of the rotation matrix."""
    q = np.asarray(quat, dtype=float).reshape(-1, 4)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty((len(q), 3))
    out[:, 0] = 2.0 * (x * z - w * y)
    out[:, 1] = 2.0 * (y * z + w * x)
    out[:, 2] = 1.0 - 2.0 * (x * x + y * y)
    return out


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def dot3(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise a (n, 3) · v (3,), written out: a row's result must not depend on the row count (BLAS
    kernels differ by size), or the live tracker's output would depend on how the stream was chunked."""
    return a[:, 0] * v[0] + a[:, 1] * v[1] + a[:, 2] * v[2]


def norm3(a: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean norm of a (n, 3), written out like `dot3`: the same numbers as
    np.linalg.norm(a, axis=1) (squares summed left to right), ~8× faster (numpy reduces a 3-long axis slowly)."""
    return np.sqrt(a[:, 0] * a[:, 0] + a[:, 1] * a[:, 1] + a[:, 2] * a[:, 2])


def _running_sum(total: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """total + Σ rows, added one row after the other (np.cumsum is sequential): chunk-invariant."""
    return np.cumsum(np.vstack((total, rows)), axis=0)[-1]


def tilt(g: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tilt vectors τ (n, 3) ⟂ up (where the segment leans, |τ| = sin inclination) and the inclination
    from `up` in degrees (n,), for gravity directions g (n, 3) in the sensor frame."""
    c = dot3(g, up)
    tau = c[:, None] * up - g
    incl = np.degrees(np.arctan2(norm3(tau), c))
    return tau, incl


# --------------------------------------------------------------------------------------------------
# neutral posture


@dataclass(frozen=True)
class NeutralSettings:
    """Neutral-posture search. max_use_s: at most this much of the first still period is used;
    fallback_s (live): with no still period in this much data, fall back (a pause, else the quietest
    second) and refine later; head_s: the quietest-second fallback looks at the first head_s of data."""

    max_use_s: float = 3.0
    fallback_s: float = 8.0
    head_s: float = 30.0


class NeutralFinder:
    """The first both-sensors-still period, fed frame blocks in time order (common grid, rate_hz).

    `feed(t, both_still, motion)` → index in the block just past the period once it is decided (the run
    ended after `min_duration_s`, or reached `max_use_s`), else None; `found` is then (start_s, end_s).
    `fallback()` → (start_s, end_s, quality) from what was seen: the first pause ≥ `min_pause_s`
    ("short_still"), else the quietest second ("no_still_period"). Memory is bounded by `head_s`.
    """

    def __init__(self, rate_hz: float, still: StillSettings, settings: NeutralSettings = NeutralSettings()):
        self.rate = float(rate_hz)
        self.n_min = int(round(still.min_duration_s * rate_hz))
        self.n_max = max(self.n_min, int(round(settings.max_use_s * rate_hz)))
        self.n_pause = int(round(still.min_pause_s * rate_hz))
        self.n_head = int(round(settings.head_s * rate_hz))
        self.found: tuple[float, float] | None = None
        self._run: list[float] | None = None  # [start_s, last_s, length] of the current still run
        self._head_t: list[np.ndarray] = []
        self._head_still: list[np.ndarray] = []
        self._head_motion: list[np.ndarray] = []
        self._n_head = 0

    def feed(self, t: np.ndarray, both: np.ndarray, motion: np.ndarray) -> int | None:
        if len(t) == 0:
            return None
        if self._run is not None and not both[0]:  # the run in progress ended at the previous block's end
            run, self._run = self._run, None
            if run[2] >= self.n_min:
                self.found = (run[0], run[1])
                return 0
        if self._n_head < self.n_head:
            k = self.n_head - self._n_head
            self._head_t.append(t[:k])
            self._head_still.append(both[:k])
            self._head_motion.append(motion[:k])
            self._n_head += len(t[:k])
        starts, stops = runs(both)
        for a, b in zip(starts, stops, strict=True):
            if a == 0 and self._run is not None:  # continues the run of the previous block
                length = self._run[2] + b
                first = self._run[0]
            else:
                length, first = b - a, float(t[a])
            if length >= self.n_max:  # reached the cap: use its first max_use_s
                cut = b - (length - self.n_max)
                self.found = (first, float(t[cut - 1]))
                self._run = None
                return int(cut)
            if b < len(t):  # the run ended inside this block
                self._run = None
                if length >= self.n_min:
                    self.found = (first, float(t[b - 1]))
                    return int(b)
            else:
                self._run = [first, float(t[b - 1]), length]
        if len(stops) == 0 or stops[-1] < len(t):
            self._run = None
        return None

    def pending_run_s(self) -> tuple[float, float] | None:
        """The still run in progress at the end of the data (start_s, last_s) if it is long enough."""
        if self._run is not None and self._run[2] >= self.n_min:
            return self._run[0], self._run[1]
        return None

    def fallback(self) -> tuple[float, float, str] | None:
        if not self._head_t:
            return None
        t = np.concatenate(self._head_t)
        still = np.concatenate(self._head_still)
        motion = np.concatenate(self._head_motion)
        if len(t) == 0:
            return None
        for a, b in zip(*runs(still), strict=True):
            if b - a >= self.n_pause:
                return float(t[a]), float(t[b - 1]), "short_still"
        w = max(1, min(len(t), int(round(self.rate))))
        smooth = np.convolve(motion, np.ones(w) / w, mode="valid")
        i = int(np.argmin(smooth))
        return float(t[i]), float(t[i + w - 1]), "no_still_period"


# --------------------------------------------------------------------------------------------------
# sagittal axes


@dataclass(frozen=True)
class AxisSettings:
    """Excursions of the thorax inclination (degrees) that inform the sagittal axes: they start above
    enter_deg, end below exit_deg and count when they reach min_peak_deg; cluster_deg groups their
    directions, member_deg is the forward cluster's final half-width; confirm_pelvis_deg: see
    `AxisLearner.axes`."""

    enter_deg: float = 15.0
    exit_deg: float = 10.0
    min_peak_deg: float = 25.0
    cluster_deg: float = 30.0
    member_deg: float = 45.0
    confirm_pelvis_deg: float = 8.0
    max_excursions: int = 500  # the most recent kept (live memory bound)


@dataclass(frozen=True)
class SegmentAxes:
    """One sensor's calibration (sensor frame, unit vectors): up (vertical at neutral), fwd (the
    segment's forward direction ⟂ up), side (= up × fwd, the hinge axis)."""

    up: np.ndarray
    fwd: np.ndarray

    @property
    def side(self) -> np.ndarray:
        return np.cross(self.up, self.fwd)


@dataclass(frozen=True)
class Axes:
    """Both sensors' axes and how well the data pinned them.

    n_forward: forward excursions used; n_other: excursions in other directions (side bends...);
    spread_deg: RMS angle of the forward excursions' directions about the thorax axis;
    pelvis_lean_deg: mean pelvis lean along its forward direction during those excursions."""

    sacrum: SegmentAxes
    thoracic: SegmentAxes
    n_forward: int
    n_other: int
    spread_deg: float
    pelvis_lean_deg: float


@dataclass
class _Excursion:
    s_t: np.ndarray = field(default_factory=lambda: np.zeros(3))  # Σ τ_thorax · incl
    s_p: np.ndarray = field(default_factory=lambda: np.zeros(3))  # Σ τ_pelvis · incl
    w: float = 0.0  # Σ incl
    peak: float = 0.0


class AxisLearner:
    """Streaming excursion summaries → sagittal axes. Feed gravity directions of both sensors on the
    common grid (after the neutral is known); `feed` stops right after the frame where an excursion
    closes (so the caller can apply the new axes from the next frame) and returns the frames consumed."""

    def __init__(self, up_sacrum: np.ndarray, up_thoracic: np.ndarray, settings: AxisSettings = AxisSettings()):
        self.settings = settings
        self.up = {"sacrum": unit(up_sacrum), "thoracic": unit(up_thoracic)}
        self.done: list[_Excursion] = []
        self._cur: _Excursion | None = None

    def set_up(self, up_sacrum: np.ndarray, up_thoracic: np.ndarray) -> None:
        """A refined neutral: the summaries (3-D, sensor frame) stay valid, projected on the new planes."""
        self.up = {"sacrum": unit(up_sacrum), "thoracic": unit(up_thoracic)}

    def feed(self, g_sacrum: np.ndarray, g_thoracic: np.ndarray) -> tuple[int, bool]:
        """(frames consumed, an excursion closed at the last consumed frame): stops after a close."""
        return self._scan(g_sacrum, g_thoracic, stop=True)

    def feed_all(self, g_sacrum: np.ndarray, g_thoracic: np.ndarray) -> None:
        """Everything at once (offline): the same excursions as `feed` would find."""
        self._scan(g_sacrum, g_thoracic, stop=False)

    def _scan(self, g_sacrum: np.ndarray, g_thoracic: np.ndarray, *, stop: bool) -> tuple[int, bool]:
        s = self.settings
        tau_t, incl = tilt(g_thoracic, self.up["thoracic"])
        tau_p_all, _ = tilt(g_sacrum, self.up["sacrum"])  # row by row: the same numbers as per excursion
        n = len(incl)
        i = 0
        while i < n:
            if self._cur is None:
                i = first_index(incl, i, lambda x: x >= s.enter_deg)
                if i == n:
                    return n, False
                self._cur = _Excursion()
            j = first_index(incl, i, lambda x: x < s.exit_deg)
            if j > i:
                wgt = incl[i:j]
                tau_p = tau_p_all[i:j]
                c = self._cur
                c.s_t = _running_sum(c.s_t, tau_t[i:j] * wgt[:, None])
                c.s_p = _running_sum(c.s_p, tau_p * wgt[:, None])
                c.w = float(_running_sum(np.array([c.w]), wgt[:, None])[0])
                c.peak = max(c.peak, float(wgt.max()))
            if j == n:
                return n, False
            closed, self._cur = self._cur, None
            if closed.peak >= s.min_peak_deg:
                self.done.append(closed)
                del self.done[: -s.max_excursions]
                if stop:
                    return j + 1, True
            i = j + 1
        return n, False

    def axes(self, *, confirmed: bool = False) -> Axes | None:
        """The current axes, or None while no forward excursion has been seen.

        confirmed (live): only once the forward direction cannot be a side bend: two excursions agree, or
        one moved the pelvis along with the trunk by `confirm_pelvis_deg` (a hinge rotates the pelvis; a
        side bend, the first thing a user might do, hardly does). Offline sees the whole set instead."""
        if not self.done:
            return None
        s = self.settings
        up_t, up_p = self.up["thoracic"], self.up["sacrum"]
        vec = np.array([_flat(e.s_t, up_t) for e in self.done])
        norms = np.linalg.norm(vec, axis=1)
        ok = norms > 1e-9
        if not ok.any():
            return None
        dirs = vec / np.where(ok, norms, 1.0)[:, None]
        peaks = np.array([e.peak for e in self.done]) * ok
        cos_c = np.cos(np.radians(s.cluster_deg))
        dots = dirs @ dirs.T
        score = (peaks[None, :] * (dots >= cos_c)).sum(axis=1) - (peaks[None, :] * (dots <= -cos_c)).sum(axis=1)
        score[~ok] = -np.inf
        best = int(np.argmax(score))
        if score[best] <= 0:
            return None
        member = (dots[best] >= cos_c) & ok
        fwd_t = unit(_flat(vec[member].sum(axis=0), up_t))
        # once more about the cluster's mean, a little wider: a strap that slipped mid-set splits the
        # forward bends into two nearby groups; their mean is the better compromise (and `spread_deg` says so)
        member = (dirs @ fwd_t >= np.cos(np.radians(s.member_deg))) & ok
        fwd_t = unit(_flat(vec[member].sum(axis=0), up_t))
        chosen = [e for e, m in zip(self.done, member, strict=True) if m]
        if confirmed and len(chosen) < 2:
            e = chosen[0]
            pelvis_lean = np.degrees(np.arcsin(min(1.0, float(np.linalg.norm(_flat(e.s_p, up_p))) / max(e.w, 1e-9))))
            if pelvis_lean < s.confirm_pelvis_deg:
                return None
        s_p = _flat(np.sum([e.s_p for e in chosen], axis=0), up_p)
        w_sum = sum(e.w for e in chosen)
        fwd_p = unit(s_p) if np.linalg.norm(s_p) > 1e-9 else _any_perpendicular(up_p)
        spread = float(np.degrees(np.sqrt(np.mean(np.arccos(np.clip(dirs[member] @ fwd_t, -1, 1)) ** 2))))
        lean = float(np.degrees(np.arcsin(min(1.0, float(s_p @ fwd_p) / max(w_sum, 1e-9)))))
        return Axes(
            SegmentAxes(up_p, fwd_p),
            SegmentAxes(up_t, fwd_t),
            n_forward=int(member.sum()),
            n_other=int(len(self.done) - member.sum()),
            spread_deg=spread,
            pelvis_lean_deg=lean,
        )


def _flat(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    return v - (v @ up) * up


def _any_perpendicular(up: np.ndarray) -> np.ndarray:
    a = np.eye(3)[int(np.argmin(np.abs(up)))]
    return unit(_flat(a, up))
