"""Offline analysis of one recorded set: samples of both sensors in, per-rep metrics and faults out.

The analysis core (`hinge.analysis.core`) with its offline refinements: offline fusion, the neutral posture and
the sagittal axes from the whole set, zero-phase low-pass of the angles.

`analyze()` takes each sensor's samples as arrays (anything with `t`, `acc`, `gyr`: times in seconds on
one common time base, acc m/s², gyr rad/s, sensor frame) and returns an `Analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from hinge.analysis.bridge import bridge_holes
from hinge.analysis.calibration import Axes, AxisLearner, NeutralFinder, tilt
from hinge.analysis.core import (
    METRICS,
    OTHER,
    SENSORS,
    SWAP_MESSAGE,
    PlacementCheck,
    Settings,
    axes_warnings,
    check_transfer,
    frame_angles,
    gravity_on_grid,
    hip_vertical_acc,
    neutral_up,
    quality_warnings,
    quat_shift_s,
    rep_dict,
    thorax_like_sacrum,
)
from hinge.analysis.errors import AnalysisError
from hinge.analysis.fusion import still_gyro_bias
from hinge.analysis.reps import EXERCISES
from hinge.analysis.segmenter import segment
from hinge.analysis.still import still_flags
from hinge.analysis.timing import Timing, resample, timing, uniform_grid

__all__ = ["METRICS", "SENSORS", "Analysis", "Settings", "analyze", "rep_dict"]


class Samples(Protocol):
    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray


@dataclass
class SensorResult:
    """One sensor's timing (rate, lost samples, holes); its angles are the frames' pelvis / trunk column."""

    timing: Timing


@dataclass
class Analysis:
    """Result of `analyze`. `frame_array` (n, 4): t, pelvis_deg, trunk_deg, lumbar_deg on the common grid,
    `frames` the same as a DataFrame (pandas is imported only when asked: the CLI's table does not need it);
    `reps`: list of analyzer-JSON rep dicts; `warnings`: one-line quality warnings; `axes`: the sagittal
    axes found (None: no hinge)."""

    exercise: str
    calibration: dict[str, Any]
    sensors: dict[str, SensorResult]
    frame_array: np.ndarray
    reps: list[dict[str, Any]]
    warnings: list[str]
    rejected_excursions: int = 0
    axes: Axes | None = None
    swap_suspected: bool = False  # the placement is in doubt (`PlacementCheck`): faults withheld

    @property
    def frames(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.frame_array, columns=["t", "pelvis_deg", "trunk_deg", "lumbar_deg"])

    def reps_table(self) -> pd.DataFrame:
        """One row per rep: times, metrics, gap, and the faults as 'kind:severity' text."""
        import pandas as pd

        cols = ["index", "start_s", "bottom_s", "top_s", "end_s", *METRICS, "gap"]
        rows = []
        for r in self.reps:
            row = {c: r[c] for c in cols}
            row["faults"] = ", ".join(f"{f['kind']}:{f['severity']}" for f in r["faults"])
            rows.append(row)
        return pd.DataFrame(rows, columns=[*cols, "faults"])

    def to_json(self, input_name: str) -> dict[str, Any]:
        """The analyzer JSON (docs/ARCHITECTURE.md §6)."""
        counts: dict[str, int] = {}
        for r in self.reps:
            for f in r["faults"]:
                counts[f["kind"]] = counts.get(f["kind"], 0) + 1
        return {
            "input": input_name,
            "exercise": self.exercise,
            "calibration": self.calibration,
            "sensors": {
                name: {"rate_hz": round(s.timing.rate_hz, 3), "lost_samples": s.timing.lost_samples}
                for name, s in self.sensors.items()
            },
            "reps": self.reps,
            "summary": {"n_reps": len(self.reps), "faults": counts},
            "warnings": self.warnings,
            "swap_suspected": self.swap_suspected,
        }


def _validate(series: Mapping[str, Samples]) -> None:
    for name in SENSORS:
        if name not in series:
            raise AnalysisError(f"sensor {name!r} is missing; both sacrum and thoracic are needed")
        s = series[name]
        n = len(s.t)
        if np.shape(s.acc) != (n, 3) or np.shape(s.gyr) != (n, 3):
            raise AnalysisError(f"{name}: acc and gyr must be (n, 3) arrays matching t (n={n})")
        if n < 10:
            raise AnalysisError(f"{name}: only {n} samples; a set needs at least a few seconds of data")
        for field_name in ("t", "acc", "gyr"):
            if not np.isfinite(getattr(s, field_name)).all():
                raise AnalysisError(f"{name}: {field_name} contains NaN or infinite values")


def _gravity_job(job) -> np.ndarray:
    """`gravity_on_grid` of one sensor. job: (acc, gyr, rate_hz, offline, bias, still settings, ts: the times
    of the quaternions, tc: the common grid)."""
    acc, gyr, rate_hz, offline, bias, still, ts, tc = job
    return gravity_on_grid(acc, gyr, rate_hz, ts, tc, offline=offline, bias=bias, still_settings=still)


def _sensor_grid(s: Samples, rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tg, acc, gyr): one sensor's samples on its uniform grid at rate_hz (`resample`: straight across
    holes; the gyro's are bridged from the other sensor afterwards, `hinge.analysis.bridge`)."""
    t = np.asarray(s.t, dtype=float)
    tg = uniform_grid(t[0], t[-1], rate_hz)
    return tg, resample(t, s.acc, tg), resample(t, s.gyr, tg)


def _still_both(
    grids: dict[str, tuple[np.ndarray, ...]], timings: dict[str, Timing], tc: np.ndarray, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Where both sensors are still on the common grid tc (bool (n,)) and their summed motion (n,) rad/s,
    from each sensor's grid (tg, acc, gyr)."""
    both = np.ones(len(tc), dtype=bool)
    motion = np.zeros(len(tc))
    for name, (tg, acc, gyr) in grids.items():
        flags, mot = still_flags(acc, gyr, timings[name].rate_hz, settings.still)
        both &= np.interp(tc, tg, flags.astype(float)) > 0.5
        motion += np.interp(tc, tg, mot)
    return both, motion


def _fused_gravity(
    grids: dict[str, tuple[np.ndarray, ...]],
    timings: dict[str, Timing],
    tc: np.ndarray,
    neutral_s: tuple[float, float],
    use_still: bool,
    settings: Settings,
    mapper: Callable,
) -> dict[str, np.ndarray]:
    """Both sensors fused by mapper (`_gravity_job`), each with its gyro bias from the neutral window
    neutral_s (start, end) s when use_still and the window has samples: their gravity directions on tc."""
    jobs = []
    for name, (tg, acc, gyr) in grids.items():
        still = (tg >= neutral_s[0]) & (tg <= neutral_s[1])
        use = use_still and still.any()
        bias = still_gyro_bias(acc[still], gyr[still], timings[name].rate_hz) if use else None
        ts = tg + quat_shift_s(timings[name].rate_hz, settings.samples)
        jobs.append((acc, gyr, timings[name].rate_hz, settings.offline, bias, settings.still, ts, tc))
    return dict(zip(grids, mapper(_gravity_job, jobs), strict=True))


def analyze(
    series: Mapping[str, Samples],
    *,
    exercise: str = "unknown",
    settings: Settings | None = None,
    mapper: Callable = map,
    consume: bool = False,
) -> Analysis:
    """Analyse a set. series: {'sacrum': samples, 'thoracic': samples} (see module docstring).

    consume: take the samples out of `series` (then a dict) once they are on the sensors' uniform grids,
    so their memory goes to the analysis when nothing else holds them (a 60-min set: 80 MB fewer fresh
    pages to touch, which on a VM is most of what memory costs).

    mapper: a `map`-like callable that runs the per-sensor fusion jobs (fusion and gravity on the common
    grid); pass a process pool's `map` to fuse both sensors in parallel on long sets (fusion is most of the
    work and holds the GIL).
    """
    settings = settings or Settings()
    if exercise not in EXERCISES:
        raise AnalysisError(f"unknown exercise {exercise!r}; expected one of {', '.join(EXERCISES)}")
    _validate(series)
    warnings: list[str] = []
    timings = {name: timing(np.asarray(series[name].t, dtype=float), sensor=name) for name in SENSORS}
    results = {name: SensorResult(timings[name]) for name in SENSORS}
    grids = {
        name: _sensor_grid(series.pop(name) if consume else series[name], timings[name].rate_hz)  # type: ignore[attr-defined]
        for name in SENSORS
    }
    for name in SENSORS:  # gyro holes bridged with the other sensor's motion
        (tg, _, gyr), other = grids[name], grids[OTHER[name]]
        bridge_holes(tg, gyr, timings[name].holes, other[0], other[2], timings[OTHER[name]].holes, settings.bridge)

    # common grid over the overlap, at the faster sensor's rate
    rate = max(tm.rate_hz for tm in timings.values())
    t0 = max(g[0][0] for g in grids.values())
    t1 = min(g[0][-1] for g in grids.values())
    if t1 - t0 < 1.0:
        raise AnalysisError("the two sensors' data overlap for less than 1 s; check the time base")
    tc = uniform_grid(t0, t1, rate)

    # neutral posture: the first period where both sensors are still (the one still detector)
    both, motion = _still_both(grids, timings, tc, settings)
    finder = NeutralFinder(rate, settings.still, settings.neutral)
    if finder.feed(tc, both, motion) is not None or finder.pending_run_s() is not None:
        n_start, n_end = finder.found or finder.pending_run_s()
        quality = "ok"
    else:
        n_start, n_end, quality = finder.fallback()
        advice = "no still standing or sitting period found (stand still ~3 s before the first rep)"
        if quality == "short_still":
            warnings.append(f"{advice}; calibrated on a {n_end - n_start:.1f}-s pause at {n_start:.1f}–{n_end:.1f} s")
        else:
            warnings.append(
                f"{advice}; calibrated on the quietest second instead ({n_start:.1f}–{n_end:.1f} s): "
                "angles are less reliable"
            )

    # fusion (each sensor's gyro bias from the neutral window when it is still), gravity on the common grid
    g = _fused_gravity(grids, timings, tc, (n_start, n_end), quality != "no_still_period", settings, mapper)
    acc_c = {name: resample(tg, acc, tc) for name, (tg, acc, _) in grids.items()}  # specific force, common grid
    del grids  # not needed further: their memory goes to what follows (fewer fresh pages to touch)
    neutral = (tc >= n_start) & (tc <= n_end)
    if not neutral.any():
        neutral[int(np.argmin(np.abs(tc - n_start)))] = True
    ups = {name: neutral_up(acc_c[name][neutral], g[name][neutral], quality) for name in SENSORS}

    learner = AxisLearner(ups["sacrum"], ups["thoracic"], settings.axes)
    learner.feed_all(g["sacrum"], g["thoracic"])
    axes = learner.axes()
    swapped = axes is None and bool(
        thorax_like_sacrum(tilt(g["sacrum"], ups["sacrum"])[1], tilt(g["thoracic"], ups["thoracic"])[1], settings).any()
    )
    warnings += axes_warnings(axes, settings, swapped)
    if axes is None:
        nan = np.full(len(tc), np.nan)
        frames = np.column_stack((tc, nan, nan, nan))
        calibration = {"neutral_start_s": round(n_start, 3), "neutral_end_s": round(n_end, 3), "quality": quality}
        _hole_warnings(timings, warnings)
        return Analysis(exercise, calibration, results, frames, [], warnings, 0, None, swapped)

    ang = frame_angles(g["sacrum"], g["thoracic"], axes).lowpassed(rate, settings.lowpass_hz)
    trunk, pelvis, side, lean = ang.trunk, ang.pelvis, ang.side, ang.lean
    frames = np.column_stack((tc, pelvis, trunk, trunk - pelvis))

    warnings += quality_warnings(trunk, pelvis, settings)
    _hole_warnings(timings, warnings)
    records = segment(tc, trunk, pelvis, settings.reps, lean=lean, side=side)
    g0 = float(np.linalg.norm(acc_c["sacrum"][neutral].mean(axis=0)))
    hip_az = hip_vertical_acc(acc_c["sacrum"], g["sacrum"], g0)
    records = [check_transfer(r, tc, hip_az, lean, settings)[0] for r in records]
    rejected = sum(not r.valid for r in records)
    holes = [tm.holes[tm.holes[:, 2] > settings.gap_s] for tm in timings.values()]
    check = PlacementCheck(settings.swap_margin_deg)
    for r in records:
        if r.valid:
            check.add(r)
    swapped = check.doubt()
    if swapped:
        warnings.append(SWAP_MESSAGE)
    reps = [rep_dict(i + 1, r, holes, settings, withheld=swapped) for i, r in enumerate(r for r in records if r.valid)]
    if not reps:
        warnings.append(
            "no reps found: no forward bend reached the rep gates "
            f"(trunk range ≥ {settings.reps.min_rom_deg:.0f}°, within 45° of the sagittal plane)"
        )
    if quality == "ok" and reps and reps[0]["start_s"] < n_start:
        quality = "after_first_rep"
        warnings.append(
            f"no still standing before the first rep; calibrated on the standing at {n_start:.1f}–{n_end:.1f} s "
            "(stand still ~3 s before the set for a better zero)"
        )
    calibration = {"neutral_start_s": round(n_start, 3), "neutral_end_s": round(n_end, 3), "quality": quality}
    return Analysis(exercise, calibration, results, frames, reps, warnings, rejected, axes, swapped)


def _hole_warnings(timings: dict[str, Timing], warnings: list[str]) -> None:
    for name, tm in timings.items():
        for a, b, missing in tm.holes[tm.holes[:, 2] > 1.0]:
            warnings.append(f"{name}: {missing:.1f} s of data missing at {a:.1f}–{b:.1f} s; reps there are not counted")
