"""Automatic sensor-to-segment calibration: neutral standing, vertical, and the hinge (mediolateral) axis.

No manual steps. The first still period of the set is the neutral standing posture: there, the mean
accelerometer vector is each segment's vertical (in the sensor frame) and the mean gyroscope reading
its bias. The mediolateral axis comes from the hinge motion itself: the dominant direction of the
(bias-free) angular velocity, orthogonalised against the vertical. Its sign is settled later, from the
angle series (forward bending is the large excursion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisError


@dataclass(frozen=True)
class StillSettings:
    """Still-period detection, all over `window_s` moving windows.

    gyr_std_rad_s: max RMS deviation of the angular velocity from its window mean.
    acc_std_m_s2: max RMS deviation of the specific force from its window mean.
    min_duration_s: shortest still period accepted as neutral standing; min_pause_s: the fallback.
    """

    window_s: float = 0.5
    gyr_std_rad_s: float = np.radians(5.0)
    acc_std_m_s2: float = 0.25
    min_duration_s: float = 1.5
    min_pause_s: float = 0.5  # fallback: a shorter pause (e.g. a lockout) when no standing period exists


def _moving_var(x: np.ndarray, w: int) -> np.ndarray:
    """Sum over columns of the variance of x (n, k) in centred windows of w samples; (n,)."""
    n = len(x)
    c1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
    lo = np.clip(np.arange(n) - w // 2, 0, n - w)
    hi = lo + w
    s1 = c1[hi] - c1[lo]
    s2 = c2[hi] - c2[lo]
    return np.sum(s2 / w - (s1 / w) ** 2, axis=1).clip(min=0.0)


def still_mask(acc: np.ndarray, gyr: np.ndarray, fs_hz: float, settings: StillSettings = StillSettings()) -> np.ndarray:
    """Boolean (n,) mask: True where the sensor is (quasi-)still. acc m/s², gyr rad/s, (n, 3) each."""
    w = max(3, int(round(settings.window_s * fs_hz)))
    if len(acc) < w:
        return np.zeros(len(acc), dtype=bool)
    gyr_ok = _moving_var(gyr, w) < settings.gyr_std_rad_s**2
    acc_ok = _moving_var(acc, w) < settings.acc_std_m_s2**2
    return gyr_ok & acc_ok


def first_run(mask: np.ndarray, min_len: int) -> tuple[int, int] | None:
    """First run of True in mask at least min_len long, as (start, stop) indices; None if there is none."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    for a, b in zip(starts, stops, strict=True):
        if b - a >= min_len:
            return int(a), int(b)
    return None


@dataclass(frozen=True)
class SegmentAxes:
    """One sensor's calibration (sensor frame, unit vectors).

    up: segment vertical at neutral standing; ml: mediolateral (hinge) axis ⟂ up;
    gyr_bias: (3,) rad/s from the still period; axis_spread_deg: how much the axis estimate moves
    between the first and second half of the motion; planarity: share of angular-velocity energy on
    the hinge axis (1 = pure hinge).
    """

    up: np.ndarray
    ml: np.ndarray
    gyr_bias: np.ndarray
    axis_spread_deg: float
    planarity: float

    def with_up(self, up: np.ndarray) -> SegmentAxes:
        """The same calibration with another vertical (the hinge axis re-orthogonalised to it)."""
        up = np.asarray(up, dtype=float) / np.linalg.norm(up)
        ml = self.ml - np.dot(self.ml, up) * up
        return SegmentAxes(up, ml / np.linalg.norm(ml), self.gyr_bias, self.axis_spread_deg, self.planarity)


FAST_RAD_S = float(np.radians(10.0))  # angular speed above which a sample informs the hinge axis


def _principal_axis(w: np.ndarray) -> tuple[np.ndarray, float]:
    return _principal_axis_m2(w.T @ w)


def _principal_axis_m2(m2: np.ndarray) -> tuple[np.ndarray, float]:
    vals, vecs = np.linalg.eigh(m2)
    return vecs[:, -1], float(vals[-1] / max(vals.sum(), 1e-12))


def hinge_axis(m2: np.ndarray, up: np.ndarray, *, sensor: str = "sensor") -> np.ndarray:
    """Unit hinge (mediolateral) axis ⟂ up from the second moment Σ ωωᵀ (3, 3) of fast angular velocity.
    Its sign is arbitrary; the caller settles it (forward bending positive)."""
    return _orthogonal_unit(_principal_axis_m2(m2)[0], up, sensor=sensor)


def _orthogonal_unit(axis: np.ndarray, up: np.ndarray, *, sensor: str) -> np.ndarray:
    ml = axis - np.dot(axis, up) * up
    norm = np.linalg.norm(ml)
    if norm < 0.3:
        raise AnalysisError(
            f"{sensor}: the main rotation axis is almost vertical; the movement is a twist, not a hinge"
        )
    return ml / norm


def segment_axes(
    acc_still: np.ndarray,
    gyr_still: np.ndarray,
    gyr_moving: np.ndarray,
    *,
    sensor: str = "sensor",
    bias_from_still: bool = True,
) -> SegmentAxes:
    """Calibrate one sensor from its still-period samples and its (raw) angular velocity while moving.

    acc_still, gyr_still: (k, 3) samples of neutral standing; gyr_moving: (m, 3) rad/s during the set.
    bias_from_still: take the gyro bias from the still samples (False when they are not really still:
    the bias is then left to the fusion's own estimator and reported as zero).
    """
    if len(acc_still) == 0:
        raise AnalysisError(f"{sensor}: no standing samples to calibrate from")
    g = acc_still.mean(axis=0)
    if np.linalg.norm(g) < 5.0:
        raise AnalysisError(f"{sensor}: standing accelerometer reads {np.linalg.norm(g):.2f} m/s², expected ≈ 9.81")
    up = g / np.linalg.norm(g)
    bias = gyr_still.mean(axis=0) if bias_from_still else np.zeros(3)
    w = gyr_moving - bias
    speed = np.linalg.norm(w, axis=1)
    fast = w[speed > FAST_RAD_S]
    if len(fast) < 10:
        raise AnalysisError(f"{sensor}: too little rotation to find the hinge axis (no hinge movement?)")
    m2 = fast.T @ fast
    planarity = _principal_axis_m2(m2)[1]
    ml = hinge_axis(m2, up, sensor=sensor)
    half = len(fast) // 2
    a1, _ = _principal_axis(fast[:half])
    a2, _ = _principal_axis(fast[half:])
    spread = float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(a1, a2)))))))
    return SegmentAxes(up, ml, bias, spread, planarity)
