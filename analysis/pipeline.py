"""Offline analysis of one recorded set: samples of both sensors in, per-rep metrics and faults out.

    fusion (per sensor) → calibration (neutral standing, axes) → sagittal angles → common time grid
    → reps → metrics → faults

`analyze()` takes each sensor's samples as arrays (anything with `t`, `acc`, `gyr`: times in seconds on
one common time base, acc m/s², gyr rad/s, sensor frame) and returns an `Analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from analysis.angles import forward_sign, sagittal_angle_deg
from analysis.calibration import SegmentAxes, StillSettings, first_run, segment_axes, still_mask
from analysis.errors import AnalysisError
from analysis.faults import FaultLimits, classify
from analysis.fusion import fuse
from analysis.quaternion import quat_conj, quat_rotate
from analysis.reps import EXERCISES, RepSettings
from analysis.segmenter import RepRecord, segment
from analysis.timing import Timing, resample, timing, uniform_grid

SENSORS = ("sacrum", "thoracic")
METRICS = ("depth_deg", "trunk_top_deg", "pelvis_top_deg", "lumbar_top_deg", "lumbar_flexion_max_deg")


class Samples(Protocol):
    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray


@dataclass(frozen=True)
class Settings:
    """Analysis settings. offline: acausal fusion (recordings); lowpass_hz: zero-phase low-pass of the
    angles (None = off); gap_s: missing data inside a rep beyond which the rep is a gap."""

    still: StillSettings = field(default_factory=StillSettings)
    reps: RepSettings = field(default_factory=RepSettings)
    limits: FaultLimits = field(default_factory=FaultLimits)
    offline: bool = True
    lowpass_hz: float | None = 8.0
    gap_s: float = 0.05
    live_calibration_s: float = 3.0  # live: calibrate once both sensors were still this long
    min_hinge_rom_deg: float = 30.0
    max_axis_spread_deg: float = 10.0


@dataclass
class SensorResult:
    timing: Timing
    axes: SegmentAxes
    t: np.ndarray  # uniform grid of this sensor (s)
    theta_deg: np.ndarray  # sagittal angle on that grid, relative to standing


@dataclass
class Analysis:
    """Result of `analyze`. `frames`: DataFrame t, pelvis_deg, trunk_deg, lumbar_deg on the common grid;
    `reps`: list of analyzer-JSON rep dicts; `warnings`: one-line quality warnings."""

    exercise: str
    calibration: dict[str, Any]
    sensors: dict[str, SensorResult]
    frames: pd.DataFrame
    reps: list[dict[str, Any]]
    warnings: list[str]
    rejected_excursions: int = 0

    def reps_table(self) -> pd.DataFrame:
        """One row per rep: times, metrics, gap, and the faults as 'kind:severity' text."""
        cols = ["index", "start_s", "bottom_s", "top_s", "end_s", *METRICS, "gap"]
        rows = []
        for r in self.reps:
            row = {c: r[c] for c in cols}
            row["faults"] = ", ".join(f"{f['kind']}:{f['severity']}" for f in r["faults"])
            rows.append(row)
        return pd.DataFrame(rows, columns=[*cols, "faults"])

    def to_json(self, input_name: str) -> dict[str, Any]:
        """The analyzer JSON (ARCHITECTURE.md §6)."""
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


def _still_both(grids, t0: float, t1: float, rate: float, settings: Settings):
    """Common grid over [t0, t1], where both sensors are still, and a motion measure (rad/s)."""
    tc = uniform_grid(t0, t1, rate)
    both = np.ones(len(tc), dtype=bool)
    motion = np.zeros(len(tc))
    for t, acc, gyr in grids.values():
        sel = slice(max(0, int(np.searchsorted(t, t0)) - 1), int(np.searchsorted(t, t1)) + 2)
        t, acc, gyr = t[sel], acc[sel], gyr[sel]
        m = still_mask(acc, gyr, 1.0 / (t[1] - t[0]), settings.still)
        both &= np.interp(tc, t, m.astype(float)) > 0.5
        motion += np.interp(tc, t, np.linalg.norm(gyr - np.median(gyr, axis=0), axis=1))
    return tc, both, motion


def _neutral(grids, settings: Settings, warnings: list[str]) -> tuple[float, float, str]:
    """Neutral standing: the first period where both sensors are still; (start_s, end_s, quality)."""
    t0 = max(g[0][0] for g in grids.values())
    t1 = min(g[0][-1] for g in grids.values())
    if t1 - t0 < 1.0:
        raise AnalysisError("the two sensors' data overlap for less than 1 s; check the time base")
    rate = max(1.0 / (g[0][1] - g[0][0]) for g in grids.values())
    # the first still period is near the start: look at the first two minutes before the whole set
    for t_stop in (min(t1, t0 + 120.0), t1):
        tc, both, motion = _still_both(grids, t0, t_stop, rate, settings)
        run = first_run(both, int(settings.still.min_duration_s * rate))
        if run is not None and (run[1] < len(tc) or t_stop == t1):
            return float(tc[run[0]]), float(tc[run[1] - 1]), "ok"
    advice = "no still standing period found at the start of the set (stand still ~3 s before the first rep)"
    run = first_run(both, int(settings.still.min_pause_s * rate))
    if run is not None:  # a pause at the top of a rep is a standing posture too
        a, b = float(tc[run[0]]), float(tc[run[1] - 1])
        warnings.append(f"{advice}; calibrated on a {b - a:.1f}-s pause at {a:.1f}–{b:.1f} s")
        return a, b, "short_still"
    # nothing still at all: the quietest second near the start, and say so
    w = max(1, int(rate))
    head = motion[: max(w + 1, len(motion) // 5)]
    smooth = np.convolve(head, np.ones(w) / w, mode="valid")
    i = int(np.argmin(smooth))
    warnings.append(
        f"{advice}; calibrated on the quietest second instead ({tc[i]:.1f}–{tc[i + w - 1]:.1f} s): "
        "angles are less reliable"
    )
    return float(tc[i]), float(tc[i + w - 1]), "no_still_period"


def _lowpass(x: np.ndarray, fs: float, cutoff_hz: float | None) -> np.ndarray:
    """Zero-phase Gaussian low-pass with its −3 dB point at cutoff_hz (no overshoot at the extremes the
    metrics read; same accuracy as a 2nd-order Butterworth filtfilt here, and scipy.ndimage imports in a
    quarter of scipy.signal's time)."""
    if cutoff_hz is None or cutoff_hz >= 0.45 * fs or len(x) < 30:
        return x
    sigma_s = np.sqrt(np.log(2.0)) / (2.0 * np.pi * cutoff_hz)  # |H(f)| = exp(-(2πfσ)²/2) = 1/√2 at cutoff
    return gaussian_filter1d(x, sigma_s * fs, mode="nearest")


def _fuse_job(job) -> np.ndarray:
    acc, gyr, rate_hz, offline, bias = job
    return fuse(acc, gyr, rate_hz, offline=offline, gyr_bias=bias, still_bias=False)


def analyze(
    series: Mapping[str, Samples],
    *,
    exercise: str = "unknown",
    settings: Settings = Settings(),
    mapper: Callable = map,
) -> Analysis:
    """Analyse a set. series: {'sacrum': samples, 'thoracic': samples} (see module docstring).

    mapper: a `map`-like callable that runs the per-sensor fusion jobs; pass a process pool's `map` to
    fuse both sensors in parallel on long sets (fusion is most of the work and holds the GIL).
    """
    if exercise not in EXERCISES:
        raise AnalysisError(f"unknown exercise {exercise!r}; expected one of {', '.join(EXERCISES)}")
    _validate(series)
    warnings: list[str] = []
    timings = {name: timing(np.asarray(series[name].t, dtype=float), sensor=name) for name in SENSORS}
    grids = {}
    for name in SENSORS:
        s = series[name]
        tm = timings[name]
        t = np.asarray(s.t, dtype=float)
        tg = uniform_grid(t[0], t[-1], tm.rate_hz)
        grids[name] = (tg, resample(t, s.acc, tg), resample(t, s.gyr, tg))

    n_start, n_end, quality = _neutral(grids, settings, warnings)

    axes_by_sensor, still_by_sensor = {}, {}
    for name in SENSORS:
        tg, acc, gyr = grids[name]
        still = (tg >= n_start) & (tg <= n_end)
        axes_by_sensor[name] = segment_axes(
            acc[still], gyr[still], gyr[~still], sensor=name, bias_from_still=quality != "no_still_period"
        )
        still_by_sensor[name] = still
    jobs = [
        (grids[name][1], grids[name][2], timings[name].rate_hz, settings.offline, axes_by_sensor[name].gyr_bias)
        for name in SENSORS
    ]
    quats = dict(zip(SENSORS, mapper(_fuse_job, jobs), strict=True))

    results: dict[str, SensorResult] = {}
    for name in SENSORS:
        tg, q, axes, still = grids[name][0], quats[name], axes_by_sensor[name], still_by_sensor[name]
        if quality == "no_still_period":  # the window is not still: take its vertical from the fused orientation
            axes = axes.with_up(quat_rotate(quat_conj(q[still]), np.array([0.0, 0.0, 1.0])).mean(axis=0))
        theta = sagittal_angle_deg(q, axes.up, axes.ml)
        theta -= theta[still].mean()
        theta *= forward_sign(theta[~still] if (~still).any() else theta)
        if axes.axis_spread_deg > settings.max_axis_spread_deg:
            warnings.append(
                f"{name}: hinge axis estimate unstable ({axes.axis_spread_deg:.0f}° between the first and "
                "second half of the set); is the strap loose?"
            )
        # VQF integrates gyro sample k over the following period: its quaternion k is the orientation at
        # t_k + T/2 (measured on simulated sets: aligning by half a period cuts the angle RMS 4-10x)
        results[name] = SensorResult(timings[name], axes, tg + 0.5 / timings[name].rate_hz, theta)

    # common grid over the overlap, at the faster sensor's rate
    rate = max(tm.rate_hz for tm in timings.values())
    tc = uniform_grid(max(r.t[0] for r in results.values()), min(r.t[-1] for r in results.values()), rate)
    trunk = _lowpass(np.interp(tc, results["thoracic"].t, results["thoracic"].theta_deg), rate, settings.lowpass_hz)
    pelvis = _lowpass(np.interp(tc, results["sacrum"].t, results["sacrum"].theta_deg), rate, settings.lowpass_hz)
    lumbar = trunk - pelvis
    frames = pd.DataFrame({"t": tc, "pelvis_deg": pelvis, "trunk_deg": trunk, "lumbar_deg": lumbar})

    _quality_warnings(trunk, pelvis, settings, warnings)
    for name, tm in timings.items():
        for a, b, missing in tm.holes[tm.holes[:, 2] > 1.0]:
            warnings.append(f"{name}: {missing:.1f} s of data missing at {a:.1f}–{b:.1f} s; reps there are not counted")
    records = segment(tc, trunk, pelvis, settings.reps)
    rejected = sum(not r.valid for r in records)
    holes = [tm.holes[tm.holes[:, 2] > settings.gap_s] for tm in timings.values()]
    reps = [rep_dict(i + 1, r, holes, settings) for i, r in enumerate(r for r in records if r.valid)]
    if not reps:
        warnings.append(
            "no reps found: no forward bend reached the rep gates "
            f"(trunk ROM ≥ {settings.reps.min_rom_deg:.0f}°, pelvis ≥ {settings.reps.min_pelvis_deg:.0f}°)"
        )
    if quality == "ok" and reps and reps[0]["start_s"] < n_start:
        quality = "after_first_rep"
        warnings.append(
            f"no still standing before the first rep; calibrated on the standing at {n_start:.1f}–{n_end:.1f} s "
            "(stand still ~3 s before the set for a better zero)"
        )
    calibration = {"neutral_start_s": round(n_start, 3), "neutral_end_s": round(n_end, 3), "quality": quality}
    return Analysis(exercise, calibration, results, frames, reps, warnings, rejected)


def _quality_warnings(trunk, pelvis, settings: Settings, warnings: list[str]) -> None:
    rom_t = float(np.percentile(trunk, 99.5) - np.percentile(trunk, 0.5))
    rom_p = float(np.percentile(pelvis, 99.5) - np.percentile(pelvis, 0.5))
    if rom_t < settings.min_hinge_rom_deg:
        warnings.append(f"hinge range of motion is small (trunk {rom_t:.0f}° < {settings.min_hinge_rom_deg:.0f}°)")
    if rom_p > rom_t + 5.0:
        warnings.append(
            f"sensors probably swapped: the sacrum sensor moves more ({rom_p:.0f}°) than the thoracic one "
            f"({rom_t:.0f}°)"
        )


def rep_dict(index: int, rec: RepRecord, holes: list[np.ndarray], settings: Settings) -> dict[str, Any]:
    """Analyzer-JSON dict of one rep: metrics rounded, gap flag from data holes, faults unless a gap.

    holes: per sensor, (k, 3) arrays (t_before, t_after, missing_s) of holes longer than settings.gap_s.
    """
    gap = any(bool(np.any((h[:, 0] < rec.end_s) & (h[:, 1] > rec.start_s))) for h in holes)
    metrics = {m: getattr(rec, m) for m in METRICS}
    return {
        "index": index,
        "start_s": round(rec.start_s, 3),
        "bottom_s": round(rec.bottom_s, 3),
        "top_s": round(rec.top_s, 3) if rec.top_s is not None else None,
        "end_s": round(rec.end_s, 3),
        **{k: (round(v, 2) if v == v else None) for k, v in metrics.items()},
        "gap": gap,
        "faults": [] if gap else classify(metrics, settings.limits),
    }
