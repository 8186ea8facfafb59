"""A live rep after a data hole, measured again once the seconds after it are in.

A gyro hole is a stretch of lost rotation. The bridge (`hinge.analysis.bridge`) predicts most of it from
the other sensor, but not the strap's own wobble, and causal fusion then carries what is left for
seconds: the accelerometer corrects it only slowly while the body swings. Offline fusion runs both ways
and has the data after the hole too, which is why the offline analysis stays accurate there. So the
live tracker reports such a rep (one that starts within `after_hole_s` after a hole, or holds one) at once,
as measured causally, and `lag_s` after its end measures it again: both sensors' grid rows fused the
offline way (offline VQF with the gyro bias the live fusion started with, the zero-phase low-pass of the
angles), from `before_s` before the hole up to then, segmented with the same segmenter. When its figures
change it is reported again (`hinge.analysis.tracker.Remeasured`, done by `tracker.remeasure`).

Only the rep's figures (and so its faults) change: whether it is a rep was decided live and stands, and
so do the cues already given. `bench/bridge_holes.py` and `bench/accuracy.py` print what it gains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hinge.analysis.segmenter import RepRecord


@dataclass(frozen=True)
class ReviseSettings:
    """after_hole_s: a rep is measured again when a hole missing ≥ min_hole_s ends less than this before
    its start (or inside it); lag_s: that happens this long after the rep's end; before_s: the fusion
    window starts this long before the hole (or the rep, if earlier); keep_s: the grid rows a live stream
    keeps for it (a longer window is cut to this); match_s: the rep found again in the window must start
    and end within this of the live one."""

    after_hole_s: float = 6.0
    lag_s: float = 5.0
    before_s: float = 15.0
    keep_s: float = 40.0
    min_hole_s: float = 0.025
    match_s: float = 0.5
    enabled: bool = True


def hole_before(rec: RepRecord, holes: list[np.ndarray], settings: ReviseSettings) -> float | None:
    """The start of the earliest hole (either sensor; rows t_before, t_after, missing_s) missing at least
    `min_hole_s` that ends between `after_hole_s` before the rep's start and its end; None if there is none."""
    if not settings.enabled:
        return None
    starts = [
        h[(h[:, 2] >= settings.min_hole_s) & (h[:, 1] > rec.start_s - settings.after_hole_s) & (h[:, 0] < rec.end_s), 0]
        for h in holes
    ]
    found = np.concatenate(starts) if starts else np.zeros(0)
    return float(found.min()) if len(found) else None
