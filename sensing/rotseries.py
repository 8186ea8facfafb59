"""Many rotations at once as unit quaternions, for the simulator's dense truth grid (1000 Hz).

`RotationSeries` does what the simulator asks of scipy's `Rotation` (same quaternion order x, y, z, w and
the same conventions: `a * b` applies b first; "ZXY" Euler angles are intrinsic), in plain numpy. scipy's
`Rotation` costs seconds per million rotations (scipy 1.17: ~10 s for `from_euler`, ~5 s per product),
and a set of an hour has 3.6 million truth samples per segment. Checked against scipy in
tests/test_simulator.py.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Quaternion products a ⊗ b, (x, y, z, w) rows (scipy's order); shapes broadcast ((1, 4) with (n, 4))."""
    ax, ay, az, aw = (a[..., i] for i in range(4))
    bx, by, bz, bw = (b[..., i] for i in range(4))
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def _qaxis(angle_rad: np.ndarray, k: int) -> np.ndarray:
    """Rotations by angle_rad (n,) about axis k (0 x, 1 y, 2 z) as quaternions (n, 4)."""
    q = np.zeros((len(angle_rad), 4))
    q[:, k] = np.sin(angle_rad / 2)
    q[:, 3] = np.cos(angle_rad / 2)
    return q


class RotationSeries:
    """A series of rotations as unit quaternions (x, y, z, w), with what the simulator asks of scipy's
    `Rotation` (same conventions: `a * b` applies b first). Plain numpy: scipy's `Rotation` costs seconds
    per million rotations (1.17: ~10 s for `from_euler`), and a long set has millions of truth samples."""

    __slots__ = ("q",)

    def __init__(self, q: np.ndarray) -> None:
        self.q = np.atleast_2d(q)

    @classmethod
    def of(cls, rot: Rotation) -> RotationSeries:
        return cls(rot.as_quat())

    @classmethod
    def from_euler_zxy_deg(cls, z: np.ndarray, x: np.ndarray, y: np.ndarray) -> RotationSeries:
        """Intrinsic z, then x, then y (scipy's "ZXY"), degrees."""
        return cls(_qmul(_qmul(_qaxis(np.radians(z), 2), _qaxis(np.radians(x), 0)), _qaxis(np.radians(y), 1)))

    @classmethod
    def about_z_deg(cls, angle: np.ndarray) -> RotationSeries:
        return cls(_qaxis(np.radians(angle), 2))

    @classmethod
    def from_rotvec(cls, rv: np.ndarray) -> RotationSeries:
        angle = np.linalg.norm(rv, axis=1)
        small = angle < 1e-3  # sin(a/2)/a by its series there (no 0/0)
        scale = np.where(small, 0.5 - angle**2 / 48 + angle**4 / 3840, np.sin(angle / 2) / np.where(small, 1, angle))
        return cls(np.column_stack([rv * scale[:, None], np.cos(angle / 2)]))

    def __mul__(self, other: RotationSeries) -> RotationSeries:
        return RotationSeries(_qmul(self.q, other.q))

    def inv(self) -> RotationSeries:
        return RotationSeries(self.q * np.array([-1.0, -1.0, -1.0, 1.0]))

    def apply(self, v) -> np.ndarray:
        """Rotate vectors: one (3,) for every rotation, or one (n, 3) per rotation."""
        u, w = self.q[:, :3], self.q[:, 3:]
        t = 2.0 * np.cross(u, np.broadcast_to(np.asarray(v, dtype=float), u.shape))
        return v + w * t + np.cross(u, t)

    def as_quat(self) -> np.ndarray:
        return self.q

    def as_rotvec(self) -> np.ndarray:
        q = np.where(self.q[:, 3:] < 0, -self.q, self.q)  # the shorter way round
        s = np.linalg.norm(q[:, :3], axis=1)
        angle = 2 * np.arctan2(s, q[:, 3])
        small = angle < 1e-3  # angle / sin(angle/2) by its series there
        scale = np.where(small, 2 + angle**2 / 12 + 7 * angle**4 / 2880, angle / np.where(small, 1, np.sin(angle / 2)))
        return q[:, :3] * scale[:, None]
