"""Sample timing: nominal rate, data holes, and resampling onto a uniform grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hinge.analysis.errors import AnalysisError


@dataclass(frozen=True)
class Timing:
    """One sensor's timing.

    rate_hz: nominal rate (median sample spacing); lost_samples: samples missing between rows;
    holes: (k, 3) array of (t_before, t_after, missing_s) for every spacing over 1.5 periods.
    """

    rate_hz: float
    lost_samples: int
    holes: np.ndarray


def timing(t: np.ndarray, *, sensor: str = "sensor") -> Timing:
    """Nominal rate, lost samples and holes of a sample-time series t (n,) seconds, increasing."""
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or len(t) < 3:
        raise AnalysisError(f"{sensor}: need at least 3 samples, got {t.size}")
    dt = np.diff(t)
    if (dt <= 0).any():
        raise AnalysisError(f"{sensor}: sample times must increase (row {int(np.argmax(dt <= 0)) + 1})")
    period = float(np.median(dt))
    holes, lost = holes_and_lost(t, period)
    return Timing(1.0 / period, lost, holes)


def holes_and_lost(t: np.ndarray, period: float) -> tuple[np.ndarray, int]:
    """Holes (k, 3) = (t_before, t_after, missing_s) where spacing exceeds 1.5 periods, and the number of
    samples missing between rows, for increasing sample times t (n,) s at a nominal period (s)."""
    dt = np.diff(t)
    lost = int(np.sum(np.maximum(np.rint(dt / period) - 1, 0)))
    idx = np.flatnonzero(dt > 1.5 * period)
    holes = np.column_stack([t[idx], t[idx + 1], dt[idx] - period]) if len(idx) else np.zeros((0, 3))
    return holes, lost


def uniform_grid(t0: float, t1: float, rate_hz: float) -> np.ndarray:
    """Times t0, t0 + 1/rate_hz, ... up to t1 (inclusive within rounding)."""
    n = int(np.floor((t1 - t0) * rate_hz + 1e-6)) + 1
    return t0 + np.arange(n) / rate_hz


CUBIC_MAX_HOLE_S = 0.5


def resample(t: np.ndarray, x: np.ndarray, t_new: np.ndarray, period: float | None = None) -> np.ndarray:
    """Interpolation of x (n,) or (n, k) sampled at t onto t_new: linear, except across holes (spacing over
    1.5 `period`s, up to CUBIC_MAX_HOLE_S) when a period is given: there a cubic through the two samples on
    each side. (Over a longer hole any curve is a guess; a straight line at least stays within the ends.)

    A straight line through a 0.3-s hole in a kettlebell swing misses the curve of the angular velocity
    and leaves the fused orientation ~10° off for seconds; the cubic keeps it within ~3° (simulated swing,
    275-ms loss). A hole at either end of the data (no second neighbour) stays linear. The value at a
    time depends only on the samples around it, so resampling a stream piece by piece gives the same
    numbers as resampling it whole (the live tracker relies on that)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        out = np.interp(t_new, t, x)
    else:  # written into one (n, k) array (no k columns and a stacked copy of them)
        out = np.empty((len(t_new), x.shape[1]))
        for j in range(x.shape[1]):
            out[:, j] = np.interp(t_new, t, x[:, j])
    if period is None or len(t) < 4:
        return out
    dt = np.diff(t)
    gaps = np.flatnonzero((dt > 1.5 * period) & (dt <= CUBIC_MAX_HOLE_S))
    gaps = gaps[(gaps >= 1) & (gaps <= len(t) - 3)]
    lo = np.searchsorted(t_new, t[gaps], side="right")
    hi = np.searchsorted(t_new, t[gaps + 1], side="left")
    inside = hi > lo
    gaps, lo, hi = gaps[inside], lo[inside], hi[inside]
    if len(gaps):  # every hole at once: the query times, each with its hole's four neighbours
        counts = hi - lo
        hole = np.repeat(np.arange(len(gaps)), counts)
        q = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + lo[hole]
        near = gaps[hole][:, None] + np.arange(-1, 3)
        out[q] = _cubic4(t[near], x[near], t_new[q])
    return out


def _cubic4(tk: np.ndarray, xk: np.ndarray, tq: np.ndarray) -> np.ndarray:
    """The cubics through 4 points each (tk (m, 4), xk (m, 4) or (m, 4, k)) evaluated at tq (m,)
    (Lagrange form)."""
    out = 0.0
    for j in range(4):
        w = np.ones(len(tq))
        for m in range(4):
            if m != j:
                w = w * (tq - tk[:, m]) / (tk[:, j] - tk[:, m])
        out = out + (w[:, None] * xk[:, j] if xk.ndim == 3 else w * xk[:, j])
    return out
