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


def resample(t: np.ndarray, x: np.ndarray, t_new: np.ndarray) -> np.ndarray:
    """Linear interpolation of x (n,) or (n, k) sampled at t onto t_new.

    Across a data hole this is a straight line. A cubic through two samples on each side did worse on
    the gyroscope (simulated 20–200-ms holes in swings: 2.4° RMS of integrated rotation against 2.0°,
    25° worst against 8°: the strap's wobble makes the end slopes meaningless); the gyroscope inside a
    hole is bridged with the other sensor's where it can be (`hinge.analysis.bridge`). The value at a time
    depends only on the samples around it, so resampling a stream piece by piece gives the same numbers
    as resampling it whole (the live tracker relies on that)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        return np.interp(t_new, t, x)
    out = np.empty((len(t_new), x.shape[1]))  # written into one (n, k) array, no stacked copy of columns
    for j in range(x.shape[1]):
        out[:, j] = np.interp(t_new, t, x[:, j])
    return out
