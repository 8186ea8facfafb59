"""Orientation fusion (contract: ARCHITECTURE.md §7), built on the `vqf` package.

`fuse(acc, gyr, fs_hz, *, offline=False)` returns unit quaternions (N, 4) `w, x, y, z` rotating
sensor-frame vectors into an earth frame whose z axis points up. 6D: accelerometer + gyroscope.

On top of plain VQF this module adds one thing: an explicit gyroscope-bias estimate from the first
still period (`find_still_period`). VQF's own rest detection needs the sensor to be really at rest
(gyro deviation < 2 °/s, acc deviation < 0.5 m/s² for 1.5 s); a person standing still sways, and
a gyro bias above ~2 °/s alone keeps it off, so on a body-worn sensor it may never trigger and the
bias is only learnt slowly during motion. A still
period judged by the *spread* of the signals (which a constant bias does not change) still yields a
good bias estimate. On the BROAD benchmark, whose trials start on a table, it changes nothing
(VQF's rest detection already catches that); on a simulated standing-then-swinging session it
removes most of the tilt error — `bench/fusion_broad.py` prints both.

Online (`offline=False`) processing is causal and chunk-invariant: `OnlineFuser.update` fed a
recording in arbitrary chunks returns the same quaternions as one batch. The still-period bias is
handed to the filter only at the sample where the still period is known to have ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from vqf import VQF, offlineVQF

from analysis.errors import AnalysisError

__all__ = ["StillPeriod", "StillSettings", "OnlineFuser", "find_still_period", "fuse"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StillSettings:
    """How a still period is recognised (all generic, not tuned per recording).

    min_duration_s: a window this long must be still to start a still period, s.
    max_duration_s: the period is cut here (its bias is used from then on), s.
    max_gyr_std: per-axis standard deviation of the gyroscope over the window, rad/s
        (≈2.9 °/s: tolerates postural sway; a constant bias does not count).
    max_acc_std: per-axis standard deviation of the accelerometer over the window, m/s².
    bias_sigma: uncertainty (1 σ) handed to VQF with the estimate, rad/s.
    """

    min_duration_s: float = 2.0
    max_duration_s: float = 10.0
    max_gyr_std: float = 0.05
    max_acc_std: float = 0.3
    bias_sigma: float = float(np.radians(0.2))

    def window(self, fs_hz: float) -> tuple[int, int]:
        """(min, max) period length in samples at fs_hz."""
        n_min = max(2, int(round(self.min_duration_s * fs_hz)))
        return n_min, max(n_min, int(round(self.max_duration_s * fs_hz)))


@dataclass(frozen=True)
class StillPeriod:
    """A still period `[start, stop)` (sample indices) and the mean gyroscope over it.

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


def _window_still(acc: np.ndarray, gyr: np.ndarray, n: int, s: StillSettings) -> np.ndarray:
    """still[k] for the window `[k, k + n)`, k = 0 .. len - n. acc, gyr (M, 3)."""
    x = np.hstack((gyr, acc))
    x = x - x[0]  # centre for a numerically stable running variance
    c1 = np.vstack((np.zeros((1, 6)), np.cumsum(x, axis=0)))
    c2 = np.vstack((np.zeros((1, 6)), np.cumsum(x * x, axis=0)))
    mean = (c1[n:] - c1[:-n]) / n
    var = np.maximum((c2[n:] - c2[:-n]) / n - mean * mean, 0.0)
    std = np.sqrt(var)
    return (std[:, :3].max(axis=1) <= s.max_gyr_std) & (std[:, 3:].max(axis=1) <= s.max_acc_std)


class _StillDetector:
    """Causal, chunk-invariant search for the first still period.

    A period starts with the first still window of `min_duration_s`, grows by one sample per further
    still window, and ends at the first non-still window or at `max_duration_s`. `feed` returns the
    period (once) together with the chunk-local index from which it is known, else None.
    """

    def __init__(self, fs_hz: float, settings: StillSettings):
        self.settings = settings
        self.n_min, self.n_max = settings.window(fs_hz)
        self.done = False
        self._seen = 0  # samples fed so far
        self._tail_acc = np.zeros((0, 3))
        self._tail_gyr = np.zeros((0, 3))
        self._start: int | None = None  # absolute start of the current period
        self._sum = np.zeros(3)  # sum of gyr over the current period
        self._count = 0

    def feed(self, acc: np.ndarray, gyr: np.ndarray) -> tuple[StillPeriod, int] | None:
        n = self.n_min
        m = len(acc)
        offset = self._seen  # absolute index of acc[0]
        a = np.vstack((self._tail_acc, acc))
        g = np.vstack((self._tail_gyr, gyr))
        base = offset - len(self._tail_acc)  # absolute index of a[0]
        self._seen += m
        keep = min(n - 1, len(a))
        self._tail_acc, self._tail_gyr = a[len(a) - keep :], g[len(g) - keep :]
        if len(a) < n:
            return None
        still = _window_still(a, g, n, self.settings)  # window ending at absolute base + k + n - 1
        ends = base + np.arange(len(still)) + n - 1
        k = int(np.searchsorted(ends, offset))  # only windows ending inside this chunk are new
        while k < len(still):
            if self._start is None:  # look for the first still window
                hits = np.flatnonzero(still[k:])
                if len(hits) == 0:
                    return None
                k += int(hits[0])
                self._start = int(ends[k]) - n + 1
                self._sum = g[k : k + n].sum(axis=0)
                self._count = n
                k += 1
            else:  # each further still window adds its newest sample
                run = still[k : k + self.n_max - self._count]
                breaks = np.flatnonzero(~run)
                take = int(breaks[0]) if len(breaks) else len(run)
                self._sum = self._sum + g[k + n - 1 : k + n - 1 + take].sum(axis=0)
                self._count += take
                k += take
                if take < len(run):  # window k is not still
                    return self._finish(offset)
            if self._count >= self.n_max:
                return self._finish(offset)
        return None

    def _finish(self, offset: int) -> tuple[StillPeriod, int]:
        """End the current period; returns it and the chunk-local index from which it is known."""
        assert self._start is not None
        self.done = True
        period = StillPeriod(self._start, self._start + self._count, self._sum / self._count)
        log.debug("still period %d..%d, gyr bias %s rad/s", period.start, period.stop, period.gyr_bias)
        self._tail_acc = self._tail_gyr = np.zeros((0, 3))
        return period, period.stop - offset


def find_still_period(
    acc: np.ndarray, gyr: np.ndarray, fs_hz: float, *, settings: StillSettings | None = None
) -> StillPeriod | None:
    """The first still period of a series (see `StillSettings`), or None.

    acc: (N, 3) m/s², gyr: (N, 3) rad/s, sensor frame, at fs_hz. The same causal detector as the
    online filter uses, so the result matches what `fuse(..., offline=False)` applies.
    """
    acc, gyr = _check(acc, gyr)
    det = _StillDetector(_check_fs(fs_hz), settings or StillSettings())
    found = det.feed(acc, gyr)
    if found is None and det._start is not None:  # still until the end of the series
        found = det._finish(offset=0)
    return None if found is None else found[0]


class OnlineFuser:
    """Causal VQF fusion with explicit state; `update` may be fed any chunking of a stream.

    fs_hz: sample rate, Hz. gyr_bias: optional (3,) rad/s initial bias estimate (disables the
    still-period search). still_bias: search the first still period and hand its mean gyroscope to
    VQF as bias estimate once the period has ended. vqf_params: extra keyword parameters for
    `vqf.VQF` (defaults are the package's).
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        gyr_bias: np.ndarray | None = None,
        still_bias: bool = True,
        still_settings: StillSettings | None = None,
        vqf_params: dict | None = None,
    ):
        self.fs_hz = _check_fs(fs_hz)
        self.settings = still_settings or StillSettings()
        self.vqf = VQF(1.0 / self.fs_hz, **(vqf_params or {}))
        self.still_period: StillPeriod | None = None
        self._detector: _StillDetector | None = None
        if gyr_bias is not None:
            self.vqf.setBiasEstimate(_check_bias(gyr_bias), self.settings.bias_sigma)
        elif still_bias:
            self._detector = _StillDetector(self.fs_hz, self.settings)

    @property
    def gyr_bias(self) -> np.ndarray:
        """Current bias estimate of the filter, (3,) rad/s."""
        return np.asarray(self.vqf.getBiasEstimate()[0])

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
        self.vqf.setBiasEstimate(self.still_period.gyr_bias, self.settings.bias_sigma)
        return np.vstack((head, self._vqf(acc[j:], gyr[j:])))

    def _vqf(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        if len(acc) == 0:
            return np.zeros((0, 4))
        out = self.vqf.updateBatch(np.ascontiguousarray(gyr), np.ascontiguousarray(acc))
        return np.asarray(out["quat6D"])


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
