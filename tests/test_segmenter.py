"""The streaming rep segmenter: chunk invariance and agreement with the known rep structure."""

from __future__ import annotations

import numpy as np

from hinge.analysis.segmenter import RepSegmenter, segment


def _hinge_series(fs=100.0, reps=5, seed=0):
    """Trunk/pelvis angle series with known bottoms and tops (minimum-jerk blends)."""
    rng = np.random.default_rng(seed)
    keys_t, keys_p, tops = [(0.0, 0.0), (2.0, 0.0)], [(0.0, 0.0), (2.0, 0.0)], []
    t = 2.0
    for _ in range(reps):
        depth, top = rng.uniform(45, 80), rng.uniform(-8, 2)
        keys_t += [(t + 1.0, depth), (t + 2.0, top), (t + 2.6, top)]
        keys_p += [(t + 1.0, depth * 0.6), (t + 2.0, top * 0.5), (t + 2.6, top * 0.5)]
        tops.append((depth, top))
        t += 2.6
    keys_t.append((t + 1.0, 0.0))
    keys_p.append((t + 1.0, 0.0))
    tt = np.arange(0, t + 2.0, 1 / fs)

    def curve(keys):
        out = np.full_like(tt, keys[-1][1])
        for (t0, v0), (t1, v1) in zip(keys[:-1], keys[1:], strict=True):
            m = (tt >= t0) & (tt < t1)
            u = (tt[m] - t0) / (t1 - t0)
            out[m] = v0 + (v1 - v0) * u**3 * (10 - 15 * u + 6 * u**2)
        return out

    return tt, curve(keys_t), curve(keys_p), tops


def test_whole_series_finds_each_rep_with_its_extremes():
    t, trunk, pelvis, truth = _hinge_series()
    reps = [r for r in segment(t, trunk, pelvis) if r.valid]
    assert len(reps) == len(truth)
    truth[-1] = (truth[-1][0], min(truth[-1][1], 0.0))  # the last top phase runs on into the final standing
    for r, (depth, top) in zip(reps, truth, strict=True):
        assert abs(r.depth_deg - depth) < 0.05
        assert abs(r.trunk_top_deg - top) < 0.05
        assert r.start_s < r.bottom_s < r.top_s <= r.end_s


def test_random_chunking_gives_identical_reps():
    t, trunk, pelvis, _ = _hinge_series(reps=6, seed=3)
    whole = segment(t, trunk, pelvis)
    rng = np.random.default_rng(7)
    for _ in range(5):
        seg = RepSegmenter()
        got = []
        i = 0
        while i < len(t):
            n = int(rng.integers(1, 80))
            got += seg.feed(t[i : i + n], trunk[i : i + n], pelvis[i : i + n])
            i += n
        got += seg.finish(float(t[-1]))
        assert got == whole


def test_stoop_bend_is_a_rep_shallow_bob_side_bend_and_diagonal_reach_are_not():
    """Pelvis motion is measured, not required: a trunk-only (stoop) bend is a rep. A shallow bob fails the
    range gate; a side bend and a reach more sideways than forward fail the plane gate, and the side bend
    still ends the previous rep (its top phase stops where the side bend starts)."""
    t = np.arange(0, 22, 0.01)
    bump = lambda c, h, w: h * np.exp(-0.5 * ((t - c) / w) ** 2)  # noqa: E731
    trunk = bump(3, 20, 0.4) + bump(7, 50, 0.5) + bump(15, 30, 0.5) - bump(11.5, 8, 0.3)
    side = bump(11, 35, 0.5) + bump(15, 40, 0.5)  # a side bend at 11 s, a diagonal reach at 15 s
    pelvis = bump(3, 8, 0.4) + bump(7, 3, 0.5)  # the deep bend at 7 s: the pelvis does not join
    lean = np.maximum(trunk, np.abs(side))
    reps = segment(t, trunk, pelvis, lean=lean, side=side)
    assert [r.valid for r in reps] == [False, True, False, False]
    bob, stoop, side_bend, reach = reps
    assert bob.rom_deg < 25
    assert stoop.pelvis_rom_deg < 5 and abs(stoop.depth_deg - 50) < 0.1 and stoop.lumbar_flexion_max_deg > 45
    assert stoop.end_s == side_bend.start_s < 11
    assert stoop.trunk_top_deg > -1  # the lean back at 11.5 s belongs to the side bend, not to the stoop's top
    assert side_bend.side_max_deg > side_bend.depth_deg and reach.side_max_deg > reach.depth_deg


def test_sample_by_sample_feed_one_equals_array_feed():
    """`feed_one` (the live tracker's per-frame path) against `feed`, mixed at random, on a noisy series
    with wobbles around the thresholds (rejected excursions, hysteresis, new bottoms)."""
    t, trunk, pelvis, _ = _hinge_series(reps=6, seed=5)
    rng = np.random.default_rng(11)
    trunk = trunk + rng.normal(0, 2.5, len(t))
    pelvis = pelvis + rng.normal(0, 1.5, len(t))
    whole = segment(t, trunk, pelvis)
    assert len(whole) > 6  # the noise adds rejected excursions
    for trial in range(3):
        seg, ref = RepSegmenter(), RepSegmenter()
        got, want = [], []
        i = 0
        while i < len(t):
            n = int(rng.integers(1, 40))
            want += ref.feed(t[i : i + n], trunk[i : i + n], pelvis[i : i + n])
            for k in range(i, min(i + n, len(t))):
                if trial == 0 or rng.random() < 0.7:
                    got += seg.feed_one(float(t[k]), float(trunk[k]), float(pelvis[k]))
                else:
                    got += seg.feed(t[k : k + 1], trunk[k : k + 1], pelvis[k : k + 1])
            assert seg.current == ref.current and seg._above == ref._above  # same rep in progress, frame by frame
            assert (seg._since_min_t, seg._since_min_p) == (ref._since_min_t, ref._since_min_p)
            i += n
        assert got == want == whole[: len(want)]
        assert got + seg.finish(float(t[-1])) == whole
