"""The streaming rep segmenter: chunk invariance and agreement with the known rep structure."""

from __future__ import annotations

import numpy as np

from analysis.segmenter import RepSegmenter, segment


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


def test_shallow_and_trunk_only_bends_are_rejected():
    t = np.arange(0, 12, 0.01)
    bump = lambda c, h, w: h * np.exp(-0.5 * ((t - c) / w) ** 2)  # noqa: E731
    trunk = bump(3, 20, 0.4) + bump(7, 50, 0.5)  # a shallow bob, then a deep bend ...
    pelvis = bump(3, 8, 0.4) + bump(7, 3, 0.5)  # ... that the pelvis does not join
    reps = segment(t, trunk, pelvis)
    assert len(reps) == 2 and not any(r.valid for r in reps)
    assert reps[0].rom_deg < 25 and reps[1].pelvis_rom_deg < 10


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
