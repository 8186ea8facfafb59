"""Rep segmentation settings (the segmenter itself is analysis/segmenter.py).

An *excursion* begins where the trunk angle θt rises through `start_deg` and lasts while it stays
above `start_deg − hysteresis_deg`. A rep runs from its excursion's start to the start of the next
excursion (or the end of the data), so reps tile the set and each rep owns the top that follows it.
An excursion is triggered by the trunk's *lean* max(θt, |φ|), forward or sideways (not backward: a
lockout behind vertical is part of the top), so a side bend is an
excursion too: it ends the previous rep's top phase and is then rejected for its plane. Validity gates
reject what is not a hinge rep (a shallow bob, a side bend or a diagonal reach, picking a bell up and
holding it): range of motion, plane and duration. Pelvis motion is measured, never required: a stoop
bend (trunk only) is a rep, and its lumbar flexion shows as rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

EXERCISES = ("deadlift", "swing", "good_morning", "unknown")


@dataclass(frozen=True)
class RepSettings:
    """Segmentation settings (degrees, seconds).

    start_deg: the trunk lean whose upward crossing starts a rep; top_phase_deg: the top phase
    bound (sagittal trunk angle); min_rom_deg: least bottom-minus-top trunk range; max_side_ratio: the
    largest lateral lean of the trunk in the excursion relative to its depth (1 = 45° out of the
    sagittal plane); min_duration_s / max_duration_s: bounds on the time above start_deg; min_top_s: when
    the data ends less than this after the trunk came back below the excursion's end level (or before it
    did), the rep's top was cut off: it is not measured (a top read on the way up, 6° where the lifter
    stood at 0°, would be judged as a fault).
    """

    start_deg: float = 15.0
    hysteresis_deg: float = 2.0
    top_phase_deg: float = 20.0
    min_rom_deg: float = 25.0
    max_side_ratio: float = 1.0
    min_duration_s: float = 0.35
    max_duration_s: float = 12.0
    min_top_s: float = 0.5
