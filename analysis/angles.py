"""Segment angles from gravity in the sensor frame and the calibrated segment axes.

For a segment with sensor-frame axes `up` (vertical at neutral), `fwd` (forward, ⟂ up) and
`side = up × fwd`, and g the direction of earth's up in the sensor frame at a sample
(`hinge.analysis.calibration.gravity_in_sensor`):

    sagittal θ = atan2(−g·fwd, g·up)      lateral φ = atan2(−g·side, g·up)

θ is the segment's forward lean from its neutral vertical projected on its own sagittal plane: for a
segment turned by yaw, then roll, then pitch (innermost) it is exactly the pitch, whatever the roll and
heading. Heading never enters, so a 6D fusion's drifting yaw does not matter.
"""

from __future__ import annotations

import numpy as np

from hinge.analysis.calibration import SegmentAxes, dot3


def segment_angles_deg(g: np.ndarray, axes: SegmentAxes) -> tuple[np.ndarray, np.ndarray]:
    """(sagittal θ, lateral φ) in degrees, (n,) each, for gravity directions g (n, 3) in the sensor frame."""
    g = np.asarray(g, dtype=float).reshape(-1, 3)
    vertical = dot3(g, axes.up)
    sagittal = np.degrees(np.arctan2(-dot3(g, axes.fwd), vertical))
    lateral = np.degrees(np.arctan2(-dot3(g, axes.side), vertical))
    return sagittal, lateral
