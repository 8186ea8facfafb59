"""Small pure-numpy quaternion helpers.

Convention everywhere in `hinge`: quaternions are arrays whose last axis holds `w, x, y, z`
(scalar first, Hamilton product). An orientation quaternion `q` rotates sensor-frame vectors into the
earth frame (z up): `v_earth = q ⊗ (0, v_sensor) ⊗ q⁻¹`. All functions broadcast over leading axes,
so a single (4,) quaternion combines with an (N, 4) series and vice versa.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quat_mul", "quat_conj", "quat_rotate", "quat_normalize", "inclination_error_rad"]


def quat_mul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product `q ⊗ r`.

    q, r: (..., 4) quaternions `w, x, y, z` (broadcast against each other).
    Returns (..., 4). As rotations, `q ⊗ r` applies `r` first, then `q`.
    """
    q = np.asarray(q, dtype=float)
    r = np.asarray(r, dtype=float)
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack(
        (
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ),
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate `(w, -x, -y, -z)`; the inverse rotation for unit quaternions. (..., 4) → (..., 4)."""
    q = np.asarray(q, dtype=float)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Scale (..., 4) quaternions to unit norm (a zero quaternion stays zero)."""
    q = np.asarray(q, dtype=float)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.divide(q, norm, out=np.zeros_like(q), where=norm > 0)


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors by unit quaternions: `q ⊗ (0, v) ⊗ q⁻¹`.

    q: (..., 4) unit quaternions (sensor → earth); v: (..., 3) sensor-frame vectors (any unit).
    Returns (..., 3) earth-frame vectors in the unit of `v`.
    """
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    if v.ndim == 1 and q.ndim == 2:  # one vector, many quaternions
        return _rotate_one_vector(q, v)
    w = q[..., :1]
    u = q[..., 1:]
    # v' = v + 2w (u × v) + 2 u × (u × v)  (unit q); cross products written out (np.cross costs ~30 µs a call)
    t = 2.0 * _cross(u, v)
    return v + w * t + _cross(u, t)


def _rotate_one_vector(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """quat_rotate for q (n, 4) and a single v (3,), column by column (no broadcasting machinery)."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    vx, vy, vz = float(v[0]), float(v[1]), float(v[2])
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    out = np.empty((len(q), 3))
    out[:, 0] = vx + w * tx + (y * tz - z * ty)
    out[:, 1] = vy + w * ty + (z * tx - x * tz)
    out[:, 2] = vz + w * tz + (x * ty - y * tx)
    return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack((ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx), axis=-1)


def inclination_error_rad(q_est: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """Inclination (tilt) part of the orientation error, ignoring heading, in radians.

    Definition of the BROAD benchmark: `q_err = q_est ⊗ q_ref⁻¹` (error in the earth frame) and
    `incl = 2·acos(sqrt(q_err.w² + q_err.z²))`, i.e. the angle between the earth z axis as seen by
    the estimate and by the reference.
    q_est, q_ref: (..., 4) unit quaternions `w, x, y, z` (sensor → earth). Returns (...,) in [0, π];
    NaN where an input is NaN.
    """
    q_err = quat_mul(q_est, quat_conj(q_ref))
    c = np.sqrt(q_err[..., 0] ** 2 + q_err[..., 3] ** 2)
    return 2.0 * np.arccos(np.minimum(c, 1.0))
