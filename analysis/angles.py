"""Sagittal segment angles from fused orientation and the calibrated segment axes.

For a segment with sensor-frame axes `up` (vertical at neutral standing) and `ml` (mediolateral hinge
axis), at each sample the earth-frame up-axis u = q·up and hinge axis m = q·ml give the segment's
forward direction f = m × z (horizontal, ⟂ to the hinge axis). The sagittal inclination is
θ = atan2(u·f, u·z): the angle of the segment's up-axis from vertical, in its own sagittal plane.
It is independent of heading, so a 6D fusion's drifting yaw does not matter.
"""

from __future__ import annotations

import numpy as np

from analysis.quaternion import quat_rotate


def sagittal_angle_deg(quat: np.ndarray, up: np.ndarray, ml: np.ndarray) -> np.ndarray:
    """Sagittal inclination in degrees, (n,), from quaternions (n, 4) sensor→earth and unit axes (3,)."""
    u = quat_rotate(quat, up)
    m = quat_rotate(quat, ml)
    fx, fy = m[:, 1], -m[:, 0]  # f = m × ẑ (horizontal)
    norm = np.maximum(np.hypot(fx, fy), 1e-9)
    return np.degrees(np.arctan2((u[:, 0] * fx + u[:, 1] * fy) / norm, u[:, 2]))


def forward_sign(theta_deg: np.ndarray) -> float:
    """+1 if the large excursions of θ are positive (forward bending), else −1.

    A hinge bends far forward (40–90°) and only a little backward, so the side holding the bigger
    extreme is forward.
    """
    hi = np.percentile(theta_deg, 99.5)
    lo = np.percentile(theta_deg, 0.5)
    return 1.0 if hi >= -lo else -1.0
