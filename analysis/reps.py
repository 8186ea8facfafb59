"""Rep segmentation settings (the segmenter itself is analysis/segmenter.py).

An *excursion* begins where the trunk angle θt rises through `start_deg` and lasts while it stays
above `start_deg − hysteresis_deg`. A rep runs from its excursion's start to the start of the next
excursion (or the end of the data), so reps tile the set and each rep owns the top that follows it.
Validity gates reject what is not a hinge rep (walking, a shallow bob, a trunk-only bend, picking a bell
up and holding it): range of motion, pelvis participation and duration.
"""

from __future__ import annotations

from dataclasses import dataclass

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
