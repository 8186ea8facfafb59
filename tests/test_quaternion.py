"""hinge.analysis.quaternion against scipy.spatial.transform.Rotation (independent implementation)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hinge.analysis.quaternion import inclination_error_rad, quat_conj, quat_mul, quat_normalize, quat_rotate


def _wxyz(r: Rotation) -> np.ndarray:
    return np.roll(r.as_quat(), 1, axis=-1)  # scipy is x, y, z, w


@pytest.fixture
def rots():
    return Rotation.random(200, random_state=7), Rotation.random(200, random_state=8)


def _same_rotation(q, r: Rotation):
    ref = _wxyz(r)
    sign = np.sign(np.sum(q * ref, axis=-1, keepdims=True))
    np.testing.assert_allclose(q * sign, ref, atol=1e-12)


def test_mul_matches_scipy_composition(rots):
    a, b = rots
    _same_rotation(quat_mul(_wxyz(a), _wxyz(b)), a * b)


def test_conj_is_inverse(rots):
    a, _ = rots
    _same_rotation(quat_conj(_wxyz(a)), a.inv())


def test_rotate_matches_scipy_apply(rots):
    a, _ = rots
    v = np.random.default_rng(3).normal(size=(200, 3))
    np.testing.assert_allclose(quat_rotate(_wxyz(a), v), a.apply(v), atol=1e-12)


def test_rotate_broadcasts_single_vector(rots):
    a, _ = rots
    np.testing.assert_allclose(quat_rotate(_wxyz(a), [0.0, 0.0, 9.81]), a.apply([0.0, 0.0, 9.81]), atol=1e-12)


def test_normalize():
    q = np.array([[2.0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0], [0.0, 0, 0, 0]])
    np.testing.assert_allclose(quat_normalize(q), [[1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]])


def test_inclination_error_is_angle_between_up_vectors(rots):
    a, b = rots
    # inclination error = angle between the earth z axis seen in the sensor frame by both orientations
    za = a.inv().apply([0, 0, 1.0])
    zb = b.inv().apply([0, 0, 1.0])
    expected = np.arccos(np.clip(np.sum(za * zb, axis=1), -1, 1))
    np.testing.assert_allclose(inclination_error_rad(_wxyz(a), _wxyz(b)), expected, atol=1e-6)


def test_inclination_error_ignores_heading(rots):
    a, _ = rots
    yaw = Rotation.from_euler("z", np.linspace(-3, 3, 200)[:, None])
    err = inclination_error_rad(_wxyz(yaw * a), _wxyz(a))
    np.testing.assert_allclose(err, 0.0, atol=1e-6)
    tilt = Rotation.from_euler("x", 0.3)
    np.testing.assert_allclose(inclination_error_rad(_wxyz(tilt * a), _wxyz(a)), 0.3, atol=1e-9)


def test_inclination_error_nan_propagates():
    q = np.array([[np.nan, 0, 0, 0], [1.0, 0, 0, 0]])
    err = inclination_error_rad(np.array([1.0, 0, 0, 0]), q)
    assert np.isnan(err[0]) and err[1] == 0.0


def test_norm3_is_numpys_row_norm_bit_for_bit():
    """The written-out row norm of the calibration must give np.linalg.norm's numbers exactly (the analyzer
    JSON may not move by a bit when the faster one replaces it)."""
    from hinge.analysis.calibration import norm3

    rng = np.random.default_rng(5)
    a = rng.normal(size=(100_000, 3)) * rng.uniform(1e-6, 20.0, size=(100_000, 1))
    assert np.array_equal(norm3(a), np.linalg.norm(a, axis=1))
