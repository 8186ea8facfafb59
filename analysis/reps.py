"""Rep segmentation on the trunk angle (offline), with validity gates.

An *excursion* begins where the trunk angle θt rises through `start_deg` and lasts while it stays
above `start_deg − hysteresis_deg`. A rep runs from its excursion's start to the start of the next
excursion (or the end of the data), so reps tile the set and each rep owns the top that follows it.
Its bottom is the max of θt in the excursion; its top phase, per the analyzer contract, the samples
after the bottom and before the rep's end where θt < `top_phase_deg`.

Validity gates reject what is not a hinge rep (walking, a shallow bob, a trunk-only bend, picking a bell
up and holding it): range of motion, pelvis participation and duration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisError

EXERCISES = ("deadlift", "swing", "good_morning", "unknown")


@dataclass(frozen=True)
class RepSettings:
    """Segmentation settings (degrees, seconds).

    start_deg: the trunk angle whose upward crossing starts a rep; top_phase_deg: the top phase bound;
    min_rom_deg: least bottom-minus-top trunk range; min_pelvis_deg: least pelvis rotation in the rep;
    min_duration_s / max_duration_s: bounds on the time above start_deg.
    """

    start_deg: float = 15.0
    hysteresis_deg: float = 2.0
    top_phase_deg: float = 20.0
    min_rom_deg: float = 25.0
    min_pelvis_deg: float = 10.0
    min_duration_s: float = 0.35
    max_duration_s: float = 12.0


@dataclass(frozen=True)
class RepWindow:
    """Sample indices on the common grid: start ≤ bottom < top ≤ end (end exclusive). top = -1 if the
    rep never came back up (no top phase)."""

    start: int
    bottom: int
    top: int
    end: int
    start_s: float


def crossing_time(t: np.ndarray, x: np.ndarray, i: int, level: float) -> float:
    """Time where x crosses `level` between samples i−1 and i (linear)."""
    if i == 0:
        return float(t[0])
    x0, x1 = x[i - 1], x[i]
    frac = (level - x0) / (x1 - x0) if x1 != x0 else 0.0
    return float(t[i - 1] + np.clip(frac, 0.0, 1.0) * (t[i] - t[i - 1]))


def excursions(theta_t: np.ndarray, settings: RepSettings) -> list[tuple[int, int]]:
    """(start, stop) sample indices of excursions above start_deg with hysteresis (stop exclusive)."""
    out = []
    above = False
    start = 0
    low = settings.start_deg - settings.hysteresis_deg
    # vectorised candidate crossings, walked in order (few per rep)
    up = np.flatnonzero((theta_t[1:] >= settings.start_deg) & (theta_t[:-1] < settings.start_deg)) + 1
    down = np.flatnonzero((theta_t[1:] < low) & (theta_t[:-1] >= low)) + 1
    if len(theta_t) and theta_t[0] >= settings.start_deg:
        up = np.concatenate([[0], up])
    events = sorted([(i, 1) for i in up] + [(i, 0) for i in down])
    for i, kind in events:
        if kind == 1 and not above:
            above, start = True, int(i)
        elif kind == 0 and above:
            above = False
            out.append((start, int(i)))
    if above:
        out.append((start, len(theta_t)))
    return out


def segment_reps(
    t: np.ndarray, theta_t: np.ndarray, theta_p: np.ndarray, settings: RepSettings = RepSettings()
) -> tuple[list[RepWindow], int]:
    """Find reps. t (n,) s, uniform; theta_t, theta_p (n,) degrees relative to standing.

    Returns (reps, n_rejected): the valid reps and how many excursions the gates rejected.
    """
    if not (len(t) == len(theta_t) == len(theta_p)):
        raise AnalysisError("segment_reps: t, theta_t and theta_p must have the same length")
    exc = excursions(theta_t, settings)
    reps: list[RepWindow] = []
    rejected = 0
    for k, (a, b) in enumerate(exc):
        end = exc[k + 1][0] if k + 1 < len(exc) else len(t)
        bottom = a + int(np.argmax(theta_t[a:b]))
        after = np.arange(bottom + 1, end)
        top_phase = after[theta_t[after] < settings.top_phase_deg]
        top = int(top_phase[np.argmin(theta_t[top_phase])]) if len(top_phase) else -1
        prev_end = exc[k - 1][1] if k > 0 else 0
        before_min = float(np.min(theta_t[prev_end : a + 1])) if a + 1 > prev_end else float(theta_t[a])
        top_val = float(theta_t[top]) if top >= 0 else before_min
        rom = float(theta_t[bottom]) - max(before_min, top_val)
        pelvis_rom = float(np.max(theta_p[a:b]) - np.min(theta_p[prev_end : end]))
        duration = float(t[min(b, len(t) - 1)] - t[a])
        ok = (
            rom >= settings.min_rom_deg
            and pelvis_rom >= settings.min_pelvis_deg
            and settings.min_duration_s <= duration <= settings.max_duration_s
        )
        if not ok:
            rejected += 1
            continue
        start_s = crossing_time(t, theta_t, a, settings.start_deg)
        reps.append(RepWindow(a, bottom, top, end, start_s))
    return reps, rejected
