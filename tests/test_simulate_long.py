"""`hinge simulate` of a long set: progress on stderr, and the dense truth grid's rotations in plain numpy
(scipy's `Rotation` took most of the time of a long set). Timings are in the commit message and the
report, not here: these tests check what the speed-up must not change."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hinge.cli import main
from hinge.sensing.movements import keyframe_curve, quintic


class _Terminal(io.StringIO):
    def isatty(self) -> bool:  # tqdm draws its bar only on a terminal
        return True


def test_simulate_shows_progress_on_stderr(tmp_path, monkeypatch, capsys):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["simulate", "--reps", "3", "--seed", "2", "--out", str(tmp_path / "s.csv")]) == 0
    text = err.getvalue()
    assert "simulating" in text and "writing" in text and "100%" in text
    for stage in ("plan", "sacrum", "thoracic", "truth"):  # the stages as each finishes
        assert stage in text
    assert "wrote" in capsys.readouterr().out  # the result line stays on stdout


def test_simulate_set_reports_each_stage_in_order():
    from hinge.sensing.simulator import SIM_STAGES, SimConfig, simulate_set

    seen: list[str] = []
    simulate_set(SimConfig(reps=2, seed=1), progress=seen.append)
    assert seen == list(SIM_STAGES) == ["plan", "segment curves", "sacrum", "thoracic", "truth"]


def test_rotation_series_agrees_with_scipy():
    from hinge.sensing.rotseries import RotationSeries

    rng = np.random.default_rng(7)
    n = 2000
    z, x, y = rng.uniform(-180, 180, (3, n))
    ref = Rotation.from_euler("ZXY", np.column_stack([z, x, y]), degrees=True)
    mine = RotationSeries.from_euler_zxy_deg(z, x, y)

    def same(r: Rotation, m: RotationSeries) -> None:
        assert np.allclose(r.as_matrix(), Rotation.from_quat(m.as_quat()).as_matrix(), atol=1e-12)

    same(ref, mine)
    other = Rotation.random(n, random_state=3)
    same(ref * other, mine * RotationSeries.of(other))
    mount = Rotation.random(random_state=4)
    same(ref * mount, mine * RotationSeries.of(mount))  # one rotation applied to a series
    same(ref.inv(), mine.inv())
    v = rng.normal(size=(n, 3))
    assert np.allclose(ref.apply(v), mine.apply(v), atol=1e-12)
    assert np.allclose(ref.apply([0.1, -0.2, 0.3]), mine.apply([0.1, -0.2, 0.3]), atol=1e-12)
    rv = rng.normal(size=(n, 3)) * np.where(np.arange(n) % 2, 1.0, 1e-6)[:, None]  # small angles too
    same(Rotation.from_rotvec(rv), RotationSeries.from_rotvec(rv))
    assert np.allclose(ref.as_rotvec(), mine.as_rotvec(), atol=1e-12)
    assert np.allclose(Rotation.from_rotvec(rv).as_rotvec(), RotationSeries.from_rotvec(rv).as_rotvec(), atol=1e-15)
    turn = rng.uniform(-30, 30, n)
    same(Rotation.from_euler("z", turn[:, None], degrees=True), RotationSeries.about_z_deg(turn))


def _keyframe_reference(t: np.ndarray, keys) -> np.ndarray:
    """The definition, segment by segment over all of t (a later segment wins on a shared keyframe time)."""
    out = np.full_like(t, keys[0][1])
    for (t0, v0), (t1, v1) in zip(keys[:-1], keys[1:], strict=True):
        m = (t >= t0) & (t <= t1)
        out[m] = quintic(v0, v1, (t[m] - t0) / max(t1 - t0, 1e-9))
    out[t > keys[-1][0]] = keys[-1][1]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_keyframe_curve_in_one_pass_equals_the_segment_by_segment_definition(seed):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 20, 12)).round(2)
    times[4] = times[5]  # a zero-length segment
    keys = list(zip(times.tolist(), rng.uniform(-30, 80, 12).tolist(), strict=True))
    t = np.arange(-1.0, 22.0, 0.001)
    t = np.sort(np.concatenate([t, times]))  # samples exactly on keyframes
    assert np.array_equal(keyframe_curve(t, keys), _keyframe_reference(t, keys))
    assert np.array_equal(keyframe_curve(t, keys[:1]), _keyframe_reference(t, keys[:1]))
