"""Orientation fusion (contract: ARCHITECTURE.md §7), built on the `vqf` package.

`fuse(acc, gyr, fs_hz, *, offline=False)` returns unit quaternions (N, 4) `w, x, y, z` rotating
sensor-frame vectors into an earth frame whose z axis points up. 6D: accelerometer + gyroscope.
"""

from __future__ import annotations

import numpy as np
from vqf import VQF, offlineVQF

from analysis.errors import AnalysisError


def _check(acc: np.ndarray, gyr: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    acc = np.ascontiguousarray(acc, dtype=float)
    gyr = np.ascontiguousarray(gyr, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise AnalysisError(f"fuse: acc must have shape (N, 3), got {acc.shape}")
    if gyr.shape != acc.shape:
        raise AnalysisError(f"fuse: gyr shape {gyr.shape} differs from acc shape {acc.shape}")
    if not np.isfinite(fs_hz) or fs_hz <= 0:
        raise AnalysisError(f"fuse: fs_hz must be a positive number, got {fs_hz!r}")
    if not (np.isfinite(acc).all() and np.isfinite(gyr).all()):
        raise AnalysisError("fuse: acc/gyr contain NaN or inf")
    return acc, gyr


def fuse(
    acc: np.ndarray,
    gyr: np.ndarray,
    fs_hz: float,
    *,
    offline: bool = False,
    gyr_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Fuse accelerometer and gyroscope into orientation quaternions.

    acc: (N, 3) m/s², gyr: (N, 3) rad/s, both in the sensor frame, uniformly sampled at fs_hz.
    offline: False = causal (live); True = may use the whole series (recordings).
    gyr_bias: optional (3,) rad/s initial gyroscope bias estimate (e.g. from a still period); it is
        subtracted before fusion and the filter keeps estimating the residual.
    Returns (N, 4) unit quaternions w, x, y, z (sensor → earth, z up).
    """
    acc, gyr = _check(acc, gyr, fs_hz)
    n = len(acc)
    if n == 0:
        return np.zeros((0, 4))
    if gyr_bias is not None:
        gyr = np.ascontiguousarray(gyr - np.asarray(gyr_bias, dtype=float).reshape(1, 3))
    ts = 1.0 / float(fs_hz)
    if offline:
        out = offlineVQF(gyr, acc, None, ts)
    else:
        out = VQF(ts).updateBatch(gyr, acc)
    return np.asarray(out["quat6D"])
