"""Bridging one sensor's data holes with the other sensor's gyroscope.

A lost stretch of gyroscope samples is a lost stretch of rotation: whatever curve fills it, the fused
orientation is off afterwards by the integral of the curve's error, and the accelerometer pulls that out
only over seconds (causal fusion) or not at all in a continuous swing. Within one sensor no curve does well
in a kettlebell swing: over simulated 20–200-ms holes the integrated error was 2.0° RMS for a straight
line and 2.4° for a cubic through two samples on each side (25° worst), because the strap's 6–10-Hz
wobble makes the slopes at the ends meaningless.

In a hinge the two segments move together: the thoracic sensor's angular velocity is close to a linear
function of the sacral one (the same sagittal rotation seen in another frame, plus the slower lumbar
motion). So over the seconds before a hole (and a few samples after it) we fit, by weighted least
squares, `gyr = gyr_other @ M + c` (M 3×3 limited to the directions the other sensor really turned about,
c the difference of the biases) and fill the hole with the prediction, corrected by a straight line so
that it meets the real samples on both sides. On holes of 30–250 ms cut into the reps of simulated sets
(`tests/truth.py::holes_through_reps`, seeds 0–7; `bench/bridge_holes.py`) this gives 1.88° RMS of
integrated rotation in the swing and 0.66° in the deadlift, where a straight line gives 2.89° and 0.94°.
Where the fit explains too little of the motion (the other sensor moved differently, or not at all), or
the other sensor has a hole of its own there, the straight line stays.

One function serves offline and live (`hinge.analysis.pipeline`, `hinge.analysis.tracker`): it reads
only the rows within `BridgeSettings.fit_before_s` before and `fit_after_s` after the hole, so a live
stream that keeps that much context gives the offline numbers bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BridgeSettings:
    """min_hole_s: holes missing less time than this (a lost sample or so: a straight line is as good)
    and max_hole_s: holes longer than this stay straight lines; fit_before_s / fit_after_s: the fit's
    context on each side of the hole; weight_s: the fit weighs a row by a Gaussian of its distance from
    the hole with this sigma; min_sv: directions of the other sensor's rotation weaker than this share of
    the strongest are left out of the fit; min_r2: the share of the sensor's angular-velocity variance
    near the hole the fit must explain."""

    min_hole_s: float = 0.025
    max_hole_s: float = 1.0
    fit_before_s: float = 2.0
    fit_after_s: float = 0.1
    weight_s: float = 0.5
    min_sv: float = 0.05
    min_r2: float = 0.6

    def takes(self, t_before: float, t_after: float, missing_s: float) -> bool:
        """Whether a hole (its real samples on each side, the time missing between) is one to bridge."""
        return missing_s >= self.min_hole_s and t_after - t_before <= self.max_hole_s


def hole_rows(t: np.ndarray, t_before: float, t_after: float) -> tuple[int, int]:
    """The rows lo:hi of a grid t strictly inside the hole (t_before, t_after)."""
    return int(np.searchsorted(t, t_before, side="right")), int(np.searchsorted(t, t_after, side="left"))


def bridge_hole(
    t: np.ndarray,
    gyr: np.ndarray,
    hole: tuple[float, float],
    holes: np.ndarray,
    t_o: np.ndarray,
    gyr_o: np.ndarray,
    holes_o: np.ndarray,
    settings: BridgeSettings,
) -> np.ndarray | None:
    """The gyro rows of grid (t (n,), gyr (n, 3)) inside `hole` = (t_before, t_after), predicted from the
    other sensor's grid (t_o, gyr_o); None where the straight line should stay.

    holes / holes_o: each sensor's holes, (k, ≥2) arrays of (t_before, t_after, ...): rows inside them
    are not data and are left out of the fit (the other sensor must have none over this hole).
    """
    tb, ta = hole
    if ta - tb > settings.max_hole_s:
        return None
    lo, hi = hole_rows(t, tb, ta)
    if hi <= lo or lo == 0 or hi >= len(t):
        return None
    if len(t_o) < 2 or t_o[0] > t[lo - 1] or t_o[-1] < t[hi]:
        return None
    # the other sensor's rows next to its own holes take part in interpolating it; whether those were
    # bridged yet depends on the order things arrive in, so its holes count one of its rows wider
    step_o = t_o[1] - t_o[0]
    holes_o = np.column_stack((holes_o[:, 0] - step_o, holes_o[:, 1] + step_o)) if len(holes_o) else holes_o
    if len(holes_o) and np.any((holes_o[:, 0] < t[hi]) & (holes_o[:, 1] > t[lo - 1])):
        return None  # the other sensor lost data over this hole too
    a = int(np.searchsorted(t, tb - settings.fit_before_s))
    b = int(np.searchsorted(t, ta + settings.fit_after_s, side="right"))
    fit = np.r_[a:lo, hi:b]
    fit = fit[(t[fit] >= t_o[0]) & (t[fit] <= t_o[-1])]
    fit = fit[~_inside(t[fit], holes) & ~_inside(t[fit], holes_o)]
    if len(fit) < 12:
        return None
    x = np.empty((len(fit) + hi - lo + 2, 4))
    x[:, 3] = 1.0
    tx = np.concatenate((t[fit], t[lo - 1 : hi + 1]))
    for j in range(3):
        x[:, j] = np.interp(tx, t_o, gyr_o[:, j])
    y = gyr[fit]
    # the two segments' relation changes over a rep: the rows nearest the hole count most
    w = np.exp(-0.5 * (np.minimum(np.abs(t[fit] - t[lo - 1]), np.abs(t[fit] - t[hi])) / settings.weight_s) ** 2)
    # centred, and only along the directions the other sensor really turned about (singular values down
    # to `min_sv` of the largest): in a hinge both sensors turn mostly about one axis, and a full 3×3
    # fit gives the other two directions large gains that turn the other sensor's wobble into spikes
    xm, ym = np.average(x[: len(fit), :3], axis=0, weights=w), np.average(y, axis=0, weights=w)
    m = np.zeros((4, 3))
    m[:3], *_ = np.linalg.lstsq((x[: len(fit), :3] - xm) * w[:, None], (y - ym) * w[:, None], rcond=settings.min_sv)
    m[3] = ym - xm @ m[:3]
    resid = y - x[: len(fit)] @ m
    spread = y - np.average(y, axis=0, weights=w)
    if np.sum(w[:, None] * resid**2) > (1.0 - settings.min_r2) * np.sum(w[:, None] * spread**2):
        return None
    pred = x[len(fit) :] @ m  # rows lo-1 … hi
    # meet the real samples on both sides: the prediction's misses there, drawn as a line across the hole
    f = ((t[lo:hi] - t[lo - 1]) / (t[hi] - t[lo - 1]))[:, None]
    miss_b, miss_a = gyr[lo - 1] - pred[0], gyr[hi] - pred[-1]
    return pred[1:-1] + miss_b * (1.0 - f) + miss_a * f


def bridge_holes(
    t: np.ndarray,
    gyr: np.ndarray,
    holes: np.ndarray,
    t_o: np.ndarray,
    gyr_o: np.ndarray,
    holes_o: np.ndarray,
    settings: BridgeSettings,
) -> int:
    """Bridge every hole of one sensor's whole grid (t, gyr) missing at least `min_hole_s` in place, in
    time order (as the live tracker does one at a time); returns how many were bridged. holes: (k, 3)
    rows of (t_before, t_after, missing_s)."""
    n = 0
    for tb, ta, missing in holes:
        if not settings.takes(tb, ta, missing):
            continue
        bridged = bridge_hole(t, gyr, (tb, ta), holes, t_o, gyr_o, holes_o, settings)
        if bridged is not None:
            gyr[slice(*hole_rows(t, tb, ta))] = bridged
            n += 1
    return n


def _inside(tq: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Which times tq fall strictly inside one of the holes (k, ≥2) of (t_before, t_after, ...)."""
    if len(holes) == 0:
        return np.zeros(len(tq), dtype=bool)
    k = np.searchsorted(holes[:, 0], tq, side="left") - 1  # the latest hole starting before tq
    ok = k >= 0
    out = np.zeros(len(tq), dtype=bool)
    out[ok] = tq[ok] < holes[k[ok], 1]
    return out
