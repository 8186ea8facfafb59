"""Sagittal segment angles from fused orientation and the calibrated segment axes.

For a segment with sensor-frame axes `up` (vertical at neutral standing) and `ml` (mediolateral hinge
axis), at each sample the earth-frame up-axis u = q·up and hinge axis m = q·ml give the segment's
forward direction f = m × z (horizontal, ⟂ to the hinge axis). The sagittal inclination is
θ = atan2(u·f, u·z): the angle of the segment's up-axis from vertical, in its own sagittal plane.
It is independent of heading, so a 6D fusion's drifting yaw does not matter.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 14  # rows per step of sagittal_angles_deg (bounds its temporaries on hour-long series)
_EPS = np.zeros((3, 3, 3))  # Levi-Civita symbol
_EPS[0, 1, 2] = _EPS[1, 2, 0] = _EPS[2, 0, 1] = 1.0
_EPS[0, 2, 1] = _EPS[2, 1, 0] = _EPS[1, 0, 2] = -1.0


def rotation_form(v: np.ndarray) -> np.ndarray:
    """(4, 4, 3) coefficients A with q·v = Σᵢⱼ qᵢ qⱼ A[i, j] for any unit quaternion q = (w, r) (w, x, y, z).

    Rotating a fixed vector is a quadratic form in q: q·v = (w² − r·r) v + 2 (r·v) r + 2 w (r × v).
    """
    v = np.asarray(v, dtype=float).reshape(3)
    a = np.zeros((4, 4, 3))
    a[0, 0] = v
    for k in range(1, 4):
        a[k, k] -= v
        a[k, 1:, k - 1] += 2.0 * v  # 2 (r·v) r_c: coefficient of r_k r_c is 2 v_k
    a[0, 1:] += 2.0 * np.einsum("cab,b->ac", _EPS, v)  # 2 w (r × v)_c = 2 w ε_cab r_a v_b
    return a


_I, _J = np.triu_indices(4)  # the 10 distinct products q_i q_j (i ≤ j)


def sagittal_form(up: np.ndarray, ml: np.ndarray) -> np.ndarray:
    """(10, 5) matrix F: for unit quaternions q (n, 4), (q[:, I] * q[:, J]) @ F = [u_x, u_y, u_z, m_x, m_y]
    with u = q·up and m = q·ml (earth frame), (I, J) the 10 index pairs i ≤ j. Computed once per axis
    estimate; see `sagittal_angles_deg`."""
    a = np.concatenate([rotation_form(up), rotation_form(ml)[..., :2]], axis=2)
    full = a + a.transpose(1, 0, 2)  # q_i q_j and q_j q_i are one product
    full[np.arange(4), np.arange(4)] /= 2.0
    return full[_I, _J]


def sagittal_angle_deg(quat: np.ndarray, up: np.ndarray, ml: np.ndarray) -> np.ndarray:
    """Sagittal inclination in degrees, (n,), from quaternions (n, 4) sensor→earth and unit axes (3,)."""
    return sagittal_angles_deg(quat, sagittal_form(up, ml))


def sagittal_angles_deg(quat: np.ndarray, form: np.ndarray) -> np.ndarray:
    """`sagittal_angle_deg` with the axes given as their `sagittal_form` (the live tracker keeps it per
    axis estimate: a packet's few quaternions then cost one outer product and one matrix product)."""
    q = np.asarray(quat, dtype=float).reshape(-1, 4)
    out = np.empty(len(q))
    for a in range(0, len(q), _CHUNK):
        qc = q[a : a + _CHUNK]
        # products summed explicitly, not by BLAS: a row's result must not depend on the row count
        # (the live tracker's output is bit-identical however the stream is chunked)
        um = ((qc[:, _I] * qc[:, _J])[:, :, None] * form).sum(axis=1)
        fx, fy = um[:, 4], -um[:, 3]  # f = m × ẑ (horizontal)
        norm = np.maximum(np.hypot(fx, fy), 1e-9)
        out[a : a + _CHUNK] = np.degrees(np.arctan2((um[:, 0] * fx + um[:, 1] * fy) / norm, um[:, 2]))
    return out


def forward_sign(theta_deg: np.ndarray) -> float:
    """+1 if the large excursions of θ are positive (forward bending), else −1.

    A hinge bends far forward (40–90°) and only a little backward, so the side holding the bigger
    extreme is forward.
    """
    hi = np.percentile(theta_deg, 99.5)
    lo = np.percentile(theta_deg, 0.5)
    return 1.0 if hi >= -lo else -1.0
