"""Orientation fusion (contract: docs/ARCHITECTURE.md §7), built on the `vqf` package.

`fuse(acc, gyr, fs_hz, *, offline=False)` returns unit quaternions (N, 4) `w, x, y, z` rotating
sensor-frame vectors into an earth frame whose z axis points up. 6D: accelerometer + gyroscope.

On top of plain VQF this module adds one thing: an explicit gyroscope-bias estimate from the first
still period (`find_still_period`). VQF's own rest detection needs the sensor to be really at rest
(gyro deviation < 2 °/s, acc deviation < 0.5 m/s² for 1.5 s); a person standing still sways, and
a gyro bias above ~2 °/s alone keeps it off, so on a body-worn sensor it may never trigger and the
bias is only learnt slowly during motion. A still period judged by the *spread* of the signals (which
a constant bias does not change) still yields a good bias estimate (`hinge.analysis.still`, the project's one
still detector). On the BROAD benchmark, whose trials start on a table, it changes nothing (VQF's rest
detection already catches that); on a simulated standing-then-swinging session it removes most of the
tilt error — `bench/fusion_broad.py` prints both.

Online (`offline=False`) processing is causal and chunk-invariant: `OnlineFuser.update` fed a
recording in arbitrary chunks returns the same quaternions as one batch. The still-period bias is
handed to the filter only at the sample where the still period is known to have ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from vqf import VQF, offlineVQF

from hinge.analysis.errors import AnalysisError
from hinge.analysis.still import StillDetector, StillPeriodFinder, StillSettings

__all__ = ["StillPeriod", "StillSettings", "OnlineFuser", "find_still_period", "fuse", "still_gyro_bias"]

log = logging.getLogger(__name__)

BIAS_SIGMA_RAD_S = float(np.radians(0.2))  # uncertainty (1 σ) handed to VQF with a still-period bias


@dataclass(frozen=True)
class StillPeriod:
    """A still period `[start, stop)` (sample indices) and the gyro bias over it (`still_gyro_bias`).

    gyr_bias: (3,) rad/s — the gyroscope bias estimate.
    """

    start: int
    stop: int
    gyr_bias: np.ndarray = field(repr=False)


def _check(acc: np.ndarray, gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc = np.ascontiguousarray(acc, dtype=float)
    gyr = np.ascontiguousarray(gyr, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise AnalysisError(f"fuse: acc must have shape (N, 3), got {acc.shape}")
    if gyr.shape != acc.shape:
        raise AnalysisError(f"fuse: gyr shape {gyr.shape} differs from acc shape {acc.shape}")
    if not (np.isfinite(acc).all() and np.isfinite(gyr).all()):
        bad = int(np.flatnonzero(~(np.isfinite(acc).all(1) & np.isfinite(gyr).all(1)))[0])
        raise AnalysisError(f"fuse: acc/gyr contain NaN or inf (first at row {bad})")
    return acc, gyr


def _check_fs(fs_hz: float) -> float:
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        raise AnalysisError(f"fuse: fs_hz must be a positive number, got {fs_hz!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise AnalysisError(f"fuse: fs_hz must be a positive number, got {fs_hz!r}")
    return fs


def _check_bias(gyr_bias: np.ndarray) -> np.ndarray:
    bias = np.asarray(gyr_bias, dtype=float)
    if bias.shape != (3,) or not np.isfinite(bias).all():
        raise AnalysisError(f"fuse: gyr_bias must be 3 finite numbers in rad/s, got {gyr_bias!r}")
    return bias


class _BiasFinder:
    """The first still period of a stream (`hinge.analysis.still`) and the gyro bias over it
    (`still_gyro_bias`).

    `feed(acc, gyr)` returns (period, chunk-local index from which it is known) once, else None. The
    rows of the last `max_duration_s` are kept, so the estimate is over exactly the period's rows
    whatever the chunking."""

    def __init__(self, fs_hz: float, settings: StillSettings):
        self.fs = float(fs_hz)
        self.detector = StillDetector(fs_hz, settings)
        self.finder = StillPeriodFinder(fs_hz, settings)
        self._keep = self.finder.n_max + self.detector.w
        self._rows = np.zeros((0, 6))  # acc, gyr
        self._seen = 0

    def feed(self, acc: np.ndarray, gyr: np.ndarray) -> tuple[StillPeriod, int] | None:
        flags, _ = self.detector.feed(acc, gyr)
        self._rows = np.vstack((self._rows, np.hstack((acc, gyr))))
        self._seen += len(gyr)
        j = self.finder.feed(flags)
        if j is None:
            self._rows = self._rows[-self._keep :]
            return None
        start, stop = self.finder.period
        first = self._seen - len(self._rows)  # absolute index of self._rows[0]
        rows = self._rows[start - first : stop - first]
        bias = still_gyro_bias(rows[:, :3], rows[:, 3:], self.fs)
        period = StillPeriod(start, stop, bias)
        log.debug("still period %d..%d, gyr bias %s rad/s", start, stop, bias)
        self._rows = np.zeros((0, 6))
        return period, j


def find_still_period(
    acc: np.ndarray, gyr: np.ndarray, fs_hz: float, *, settings: StillSettings | None = None
) -> StillPeriod | None:
    """The first still period of a series (`hinge.analysis.still.StillSettings`), or None.

    acc: (N, 3) m/s², gyr: (N, 3) rad/s, sensor frame, at fs_hz. The same causal detector as the
    online filter uses, so the result matches what `fuse(..., offline=False)` applies.
    """
    acc, gyr = _check(acc, gyr)
    fs = _check_fs(fs_hz)
    finder = _BiasFinder(fs, settings or StillSettings())
    found = finder.feed(acc, gyr)
    if found is None:  # still until the end of the series?
        run = finder.finder.pending()
        if run is None:
            return None
        a, b = run
        return StillPeriod(a, b, still_gyro_bias(acc[a:b], gyr[a:b], fs))
    return found[0]


class OnlineFuser:
    """Causal VQF fusion with explicit state; `update` may be fed any chunking of a stream.

    fs_hz: sample rate, Hz. gyr_bias: optional (3,) rad/s initial bias estimate (disables the
    still-period search). still_bias: search the first still period and hand its mean gyroscope to
    VQF as bias estimate once the period has ended. vqf_params: extra keyword parameters for
    `vqf.VQF` (defaults are the package's). init_acc: (3,) m/s², a specific force measured at rest at
    the start: the filter starts with that inclination instead of converging to it from identity.
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        gyr_bias: np.ndarray | None = None,
        still_bias: bool = True,
        still_settings: StillSettings | None = None,
        vqf_params: dict | None = None,
        init_acc: np.ndarray | None = None,
    ):
        self.fs_hz = _check_fs(fs_hz)
        self.settings = still_settings or StillSettings()
        self.vqf = VQF(1.0 / self.fs_hz, **(vqf_params or {}))
        self._bias = np.zeros(3)
        if init_acc is not None:  # start level: VQF would otherwise converge from identity over ~tauAcc
            state = self.vqf.state
            state["accQuat"] = _level_quat(np.asarray(init_acc, dtype=float))
            self.vqf.state = state
        self.still_period: StillPeriod | None = None
        self._detector: _BiasFinder | None = None
        if gyr_bias is not None:
            self._set_bias(_check_bias(gyr_bias))
        elif still_bias:
            self._detector = _BiasFinder(self.fs_hz, self.settings)

    @property
    def gyr_bias(self) -> np.ndarray:
        """Current bias estimate of the filter, (3,) rad/s."""
        return self._bias + np.asarray(self.vqf.getBiasEstimate()[0])

    def _set_bias(self, bias: np.ndarray) -> None:
        """Hand a bias estimate to VQF, which keeps refining it. VQF clips its estimate at `biasClip`
        (2 °/s) and cheap MEMS gyros exceed that: what lies beyond is subtracted from the gyroscope
        before VQF sees it."""
        bias = np.asarray(bias, dtype=float)
        clip = 0.95 * np.radians(float(self.vqf.params["biasClip"]))
        inside = np.clip(bias, -clip, clip)
        self._bias = bias - inside
        self.vqf.setBiasEstimate(inside, BIAS_SIGMA_RAD_S)
        # VQF's own rest estimate, a low-pass of the gyro whenever the sensor rests, would replace this
        # sway-free estimate (`still_gyro_bias`) by one with the sway in it: off from here (simulated sets
        # with ideal sensors: live swing RMS 0.42 → 0.17°). Its motion estimate still follows a drifting bias.
        self.vqf.setRestBiasEstEnabled(False)

    def update(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        """Feed (n, 3) m/s² and (n, 3) rad/s; returns (n, 4) quaternions w, x, y, z (n may be 0)."""
        acc, gyr = _check(acc, gyr)
        if len(acc) == 0:
            return np.zeros((0, 4))
        found = None
        if self._detector is not None:
            found = self._detector.feed(acc, gyr)
        if found is None:
            return self._vqf(acc, gyr)
        self.still_period, j = found
        self._detector = None
        head = self._vqf(acc[:j], gyr[:j])
        self._set_bias(self.still_period.gyr_bias)
        return np.vstack((head, self._vqf(acc[j:], gyr[j:])))

    def _vqf(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        if len(acc) == 0:
            return np.zeros((0, 4))
        out = self.vqf.updateBatch(np.ascontiguousarray(gyr - self._bias), np.ascontiguousarray(acc))
        return np.asarray(out["quat6D"])


def _level_quat(acc: np.ndarray) -> np.ndarray:
    """Shortest-arc quaternion (w, x, y, z) turning the direction of acc onto earth's z axis."""
    a = acc / max(float(np.linalg.norm(acc)), 1e-12)
    if a[2] < -1.0 + 1e-9:
        return np.array([0.0, 1.0, 0.0, 0.0])
    q = np.array([1.0 + a[2], a[1], -a[0], 0.0])  # (1 + a·z, a × z)
    return q / np.linalg.norm(q)


def fuse(
    acc: np.ndarray,
    gyr: np.ndarray,
    fs_hz: float,
    *,
    offline: bool = False,
    gyr_bias: np.ndarray | None = None,
    still_bias: bool = True,
    still_settings: StillSettings | None = None,
) -> np.ndarray:
    """Fuse accelerometer and gyroscope into orientation quaternions.

    acc: (N, 3) m/s², gyr: (N, 3) rad/s, both in the sensor frame, uniformly sampled at fs_hz (Hz).
    offline: False = causal (live, `OnlineFuser`); True = may use the whole series (`vqf.offlineVQF`).
    gyr_bias: optional (3,) rad/s initial gyroscope bias estimate; the filter keeps estimating the
        residual. When given, no still period is searched.
    still_bias: estimate the initial bias from the first still period (`find_still_period`); online
        it takes effect where the period ends, offline it is removed from the whole series.
    Returns (N, 4) unit quaternions w, x, y, z (sensor → earth, z up).
    Raises AnalysisError on bad shapes, NaN/inf samples or a non-positive fs_hz.
    """
    fs = _check_fs(fs_hz)
    acc, gyr = _check(acc, gyr)
    if len(acc) == 0:
        return np.zeros((0, 4))
    if not offline:
        fuser = OnlineFuser(fs, gyr_bias=gyr_bias, still_bias=still_bias, still_settings=still_settings)
        return fuser.update(acc, gyr)
    if gyr_bias is not None:
        bias = _check_bias(gyr_bias)
    else:
        period = find_still_period(acc, gyr, fs, settings=still_settings) if still_bias else None
        bias = None if period is None else period.gyr_bias
    if bias is not None:
        gyr = np.ascontiguousarray(gyr - bias)
    return np.asarray(offlineVQF(gyr, acc, None, 1.0 / fs)["quat6D"])


def still_gyro_bias(acc: np.ndarray, gyr: np.ndarray, fs_hz: float, block_s: float = 0.5) -> np.ndarray:
    """Gyro bias (3,) rad/s from a still period's samples (acc (n, 3) m/s², gyr (n, 3) rad/s at fs_hz).

    A standing body sways: the segment turns ~0.5° in 3 s, so the plain mean of the gyro carries a
    0.1–0.2 °/s "bias" that is motion, and the causal filter turns it into a standing inclination error
    of about bias × tauAcc. Gravity in the sensor frame follows the sway: with u the mean direction of the
    specific force, block means of it obey u_k ≈ c + u × (Θ_k − b t_k), Θ the integrated gyro; a linear
    least-squares fit gives the bias b across u (the tilt axes) free of the sway (simulated stands, ideal
    sensors: 0.09 → 0.01 °/s). Along u (a turn about the vertical) gravity says nothing: the mean is kept."""
    acc = np.asarray(acc, dtype=float)
    gyr = np.asarray(gyr, dtype=float)
    mean = gyr.mean(axis=0)
    m = max(1, int(round(block_s * fs_hz)))
    nb = len(acc) // m
    if nb < 3:
        return mean
    n = nb * m
    theta = np.cumsum(gyr[:n], axis=0) / fs_hz
    t = np.arange(n) / fs_hz
    ub = acc[:n].reshape(nb, m, 3).mean(axis=1)
    ub /= np.linalg.norm(ub, axis=1, keepdims=True)
    tb = t.reshape(nb, m).mean(axis=1)
    thb = theta.reshape(nb, m, 3).mean(axis=1)
    u0 = ub.mean(axis=0)
    u0 /= np.linalg.norm(u0)
    x, y, z = u0
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])  # skew @ v = u0 × v
    a = np.zeros((3 * nb, 6))
    a[:, :3] = np.tile(np.eye(3), (nb, 1))
    a[:, 3:] = -(tb[:, None, None] * skew).reshape(3 * nb, 3)
    rhs = (ub - thb @ skew.T).reshape(-1)
    sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
    b = sol[3:]
    return b - u0 * (b @ u0) + u0 * (mean @ u0)
