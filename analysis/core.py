"""The analysis core: what offline analysis (`hinge.analysis.pipeline`) and the live tracker (`hinge.analysis.tracker`)
share, so that both are one algorithm.

    per sensor:  uniform grid → still flags (hinge.analysis.still) → fusion → gravity in the sensor frame
    both:        common grid → neutral posture (NeutralFinder) → sagittal axes (AxisLearner)
                 → trunk / pelvis / lumbar angles, trunk inclination and lateral lean
                 → rep segmentation (RepSegmenter) → per-rep metrics, gap flags, faults

Offline adds acausal refinements: offline fusion, the neutral and the axes from the whole set, and a
zero-phase low-pass of the angles. Live runs the same steps causally, frame by frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hinge.analysis.angles import segment_angles_deg
from hinge.analysis.bridge import BridgeSettings
from hinge.analysis.calibration import Axes, AxisSettings, NeutralSettings, gravity_in_sensor, norm3, unit
from hinge.analysis.faults import FaultLimits, classify
from hinge.analysis.fusion import fuse
from hinge.analysis.reps import RepSettings
from hinge.analysis.revise import ReviseSettings
from hinge.analysis.segmenter import RepRecord
from hinge.analysis.still import StillSettings
from hinge.analysis.timing import resample

SENSORS = ("sacrum", "thoracic")
OTHER = {"sacrum": "thoracic", "thoracic": "sacrum"}
METRICS = ("depth_deg", "trunk_top_deg", "pelvis_top_deg", "lumbar_top_deg", "lumbar_flexion_max_deg")
SAMPLE_KINDS = ("instant", "averaged")


@dataclass(frozen=True)
class Settings:
    """Analysis settings.

    offline: acausal fusion (recordings); max_hip_rise_m: an excursion after which the hips end this much
    higher or lower than before is sitting down or standing up, not a rep; lowpass_hz: zero-phase
    low-pass of the angles, offline only (None = off); gap_s: missing data inside a rep beyond which the
    rep is a gap; samples: "instant" (a sample is the value at its time stamp) or "averaged" (the mean
    over the period before it: many MEMS parts decimate that way), which sets the fusion's time shift
    (`quat_shift_s`); swap_margin_deg / swap_lean_deg: the placement checks (`PlacementCheck`,
    `thorax_like_sacrum`); bridge: how gyro holes are filled from the other sensor (`hinge.analysis.bridge`);
    revise: when live re-measures a rep after a hole (`hinge.analysis.revise`).
    """

    still: StillSettings = field(default_factory=lambda: StillSettings(max_duration_s=3.0))
    neutral: NeutralSettings = field(default_factory=NeutralSettings)
    axes: AxisSettings = field(default_factory=AxisSettings)
    reps: RepSettings = field(default_factory=RepSettings)
    limits: FaultLimits = field(default_factory=FaultLimits)
    offline: bool = True
    lowpass_hz: float | None = 8.0
    gap_s: float = 0.05
    samples: str = "instant"
    min_hinge_rom_deg: float = 30.0
    max_axis_spread_deg: float = 15.0
    max_hip_rise_m: float = 0.25
    swap_margin_deg: float = 1.5
    swap_lean_deg: float = 40.0
    bridge: BridgeSettings = field(default_factory=BridgeSettings)
    revise: ReviseSettings = field(default_factory=ReviseSettings)


def quat_shift_s(rate_hz: float, samples: str = "instant") -> float:
    """Time of VQF's quaternion k relative to sample k's time stamp. VQF integrates gyro sample k over the
    following period, so for instantaneous samples quaternion k is the orientation at t_k + T/2
    (measured on simulated sets: aligning by half a period cuts the angle RMS 4–10×); a sample that
    averages the period before its stamp is integrated over [t_k − T, t_k]: no shift."""
    return 0.5 / rate_hz if samples == "instant" else 0.0


@dataclass
class FrameAngles:
    """Angles on the common grid (degrees): pelvis and trunk sagittal, trunk lateral, and the trunk's lean
    max(θt, |φ|) — forward or sideways, not backward — that starts an excursion (`hinge.analysis.segmenter`)."""

    pelvis: np.ndarray
    trunk: np.ndarray
    side: np.ndarray

    @property
    def lean(self) -> np.ndarray:
        return np.maximum(self.trunk, np.abs(self.side))

    @property
    def lumbar(self) -> np.ndarray:
        return self.trunk - self.pelvis

    def lowpassed(self, fs: float, cutoff_hz: float | None) -> FrameAngles:
        """The angles through `lowpass` (zero phase; offline, and a live rep measured again)."""
        return FrameAngles(lowpass(self.pelvis, fs, cutoff_hz), lowpass(self.trunk, fs, cutoff_hz),
                           lowpass(self.side, fs, cutoff_hz))


def gravity_on_grid(
    acc: np.ndarray, gyr: np.ndarray, rate_hz: float, ts: np.ndarray, tc: np.ndarray, *, offline: bool,
    bias: np.ndarray | None, still_settings: StillSettings,
) -> np.ndarray:
    """One sensor fused (`hinge.analysis.fusion.fuse`: acc m/s², gyr rad/s on its grid at rate_hz; bias its
    gyro bias, rad/s, or None: from its first still period) and what the analysis keeps of it: earth's up
    in the sensor frame, unit vectors (n, 3), at the frame times tc from the quaternions' times ts."""
    quats = fuse(acc, gyr, rate_hz, offline=offline, gyr_bias=bias, still_bias=bias is None,
                 still_settings=still_settings)
    g = resample(ts, gravity_in_sensor(quats), tc)
    g /= norm3(g)[:, None]
    return g


def frame_angles(g_sacrum: np.ndarray, g_thoracic: np.ndarray, axes: Axes) -> FrameAngles:
    """Angles of frames from both sensors' gravity directions (n, 3) in their sensor frames."""
    pelvis, _ = segment_angles_deg(g_sacrum, axes.sacrum)
    trunk, side = segment_angles_deg(g_thoracic, axes.thoracic)
    return FrameAngles(pelvis, trunk, side)


LOWPASS_LIBRARY = "scipy.ndimage"  # what `lowpass` imports late (~0.2–0.3 s cold): callers that will filter
# and must not wait for it then import it ahead (the analyze command on a thread, a live session at start)


def lowpass(x: np.ndarray, fs: float, cutoff_hz: float | None) -> np.ndarray:
    """Zero-phase Gaussian low-pass of angles with its −3 dB point at cutoff_hz (no overshoot at the
    extremes the metrics read; same accuracy as a 2nd-order Butterworth filtfilt here): offline, and for a
    live rep re-measured after a hole (`hinge.analysis.revise`). Its library (`LOWPASS_LIBRARY`) is imported
    here, when a filter is asked for."""
    if cutoff_hz is None or cutoff_hz >= 0.45 * fs or len(x) < 30:
        return x
    sigma_s = np.sqrt(np.log(2.0)) / (2.0 * np.pi * cutoff_hz)  # |H(f)| = exp(-(2πfσ)²/2) = 1/√2 at cutoff
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma_s * fs, mode="nearest")


def neutral_up(acc: np.ndarray, g: np.ndarray, quality: str) -> np.ndarray:
    """A segment's vertical from the neutral window's samples: the mean specific force when the window is
    still, else (the quietest second of a set without any pause) the mean fused gravity direction."""
    return unit(g.mean(axis=0) if quality == "no_still_period" else acc.mean(axis=0))


def thorax_like_sacrum(incl_sacrum_deg: np.ndarray, incl_thoracic_deg: np.ndarray, settings: Settings) -> np.ndarray:
    """Frames (bool (n,)) where the sacrum sensor leans `swap_lean_deg` or more from its neutral (further than
    a pelvis tilts sitting down or slouching) while the thoracic one leans less than a forward bend
    (`AxisSettings.min_peak_deg`): a thorax inclines at least as far as the pelvis, so there the sensors sit
    on each other's places. A stoop or seated flexion, where the pelvis hardly tilts, shows no hinge at
    all when swapped; this says why. Inclinations: `hinge.analysis.calibration.tilt`, degrees."""
    return (incl_sacrum_deg >= settings.swap_lean_deg) & (incl_thoracic_deg < settings.axes.min_peak_deg)


def swap_no_hinge_message(settings: Settings) -> str:
    return (
        "sensors probably swapped: no forward bend of the thoracic sensor, but the sacrum sensor leaned past "
        f"{settings.swap_lean_deg:.0f}° (swap them, or re-run with --swap)"
    )


def axes_warnings(axes: Axes | None, settings: Settings, swapped: bool = False) -> list[str]:
    """Warnings about the axes found (None: no hinge; swapped: and `thorax_like_sacrum` frames were seen)."""
    if axes is None and swapped:
        return [swap_no_hinge_message(settings) + "; 0 reps"]
    if axes is None:
        return [
            "no hinge found: the trunk never leaned forward past "
            f"{settings.axes.min_peak_deg:.0f}° (walking, turning, twists and side bends are not reps); 0 reps"
        ]
    out = []
    if axes.spread_deg > settings.max_axis_spread_deg:
        out.append(
            f"thoracic: hinge axis estimate unstable (forward bends {axes.spread_deg:.0f}° apart, RMS); "
            "is the strap loose, or did it slip?"
        )
    if abs(axes.pelvis_lean_deg) < 2.0:
        out.append(
            f"sacrum: the pelvis hardly tilts in the forward bends ({axes.pelvis_lean_deg:.1f}°); its plane is "
            "uncertain (stoop bends, or a loose sacrum strap)"
        )
    return out


def quality_warnings(trunk: np.ndarray, pelvis: np.ndarray, settings: Settings) -> list[str]:
    finite = np.isfinite(trunk) & np.isfinite(pelvis)
    if not finite.any():
        return []
    rom_t = float(np.percentile(trunk[finite], 99.5) - np.percentile(trunk[finite], 0.5))
    out = []
    if rom_t < settings.min_hinge_rom_deg:
        out.append(f"hinge range of motion is small (trunk {rom_t:.0f}° < {settings.min_hinge_rom_deg:.0f}°)")
    return out


SWAP_MESSAGE = (
    "sensors probably swapped: the sacrum sensor inclines more than the thoracic one at the bottom of the reps; "
    "faults withheld (swap them, or re-run with --swap)"
)


class PlacementCheck:
    """Are the sacrum and thoracic sensors swapped? One check for offline analysis and the live tracker.

    Physics: in a hip hinge the thorax inclines at least as far as the pelvis (the lumbar spine flexes on
    the way down: a little in a good hinge, most of the depth in a stoop or a seated flexion), so at a rep's
    bottom θt − θp ≥ 0. Each rep leaves its evidence e = max θp − max θt (the "pelvis" out-inclining the
    "trunk", degrees); the placement is in doubt while the median over the reps so far exceeds
    `Settings.swap_margin_deg`. Measured on simulated sets (6 seeds × deadlift, swing, good morning,
    stoop, seated, lab protocol and movement mixes, realistic errors): e ≤ −2.9° per rep when placed
    right, ≥ +2.9° when swapped. Top-phase faults (a tuck, a lean back) do not enter: only the maxima do.
    """

    def __init__(self, margin_deg: float = 1.5) -> None:
        self.margin_deg = margin_deg
        self.evidence: list[float] = []

    def add(self, rec: RepRecord) -> None:
        """A finished, valid rep."""
        e = rec.pelvis_max_deg - rec.depth_deg
        if np.isfinite(e):
            self.evidence.append(float(e))

    def doubt(self, current: float | None = None) -> bool:
        """True when the reps so far (and `current`, the rep in progress's evidence) say swapped."""
        ev = self.evidence if current is None or not np.isfinite(current) else [*self.evidence, current]
        return bool(ev) and float(np.median(ev)) > self.margin_deg


def rep_dict(
    index: int, rec: RepRecord, holes: list[np.ndarray], settings: Settings, *, withheld: bool = False
) -> dict[str, Any]:
    """Analyzer-JSON dict of one rep: metrics rounded, gap flag from data holes, faults unless a gap or
    withheld (the placement is in doubt: then the rep also says `"withheld": "placement"`).

    holes: per sensor, (k, 3) arrays (t_before, t_after, missing_s) of holes longer than settings.gap_s.
    """
    gap = any(bool(np.any((h[:, 0] < rec.end_s) & (h[:, 1] > rec.start_s))) for h in holes)
    metrics = {m: getattr(rec, m) for m in METRICS}
    out = {
        "index": index,
        "start_s": round(rec.start_s, 3),
        "bottom_s": round(rec.bottom_s, 3),
        "top_s": round(rec.top_s, 3) if rec.top_s is not None else None,
        "end_s": round(rec.end_s, 3),
        **{k: (round(v, 2) if v == v else None) for k, v in metrics.items()},
        "gap": gap,
        "faults": [] if gap or withheld else classify(metrics, settings.limits),
    }
    if withheld:
        out["withheld"] = "placement"
    return out


TRANSFER_BEFORE_S = 1.0  # the upright moment before an excursion is looked for this far back
TRANSFER_AFTER_S = 1.5  # and after it, this far on (at most to the rep's end)


def hip_vertical_acc(acc_sacrum: np.ndarray, g_sacrum: np.ndarray, g0_m_s2: float) -> np.ndarray:
    """The sacrum's vertical acceleration (m/s², up +, gravity removed), (n,): specific force (n, 3) along
    the fused vertical g (n, 3), minus the specific force's magnitude at neutral (absorbs scale error)."""
    a, g = acc_sacrum, g_sacrum
    return a[:, 0] * g[:, 0] + a[:, 1] * g[:, 1] + a[:, 2] * g[:, 2] - g0_m_s2


def hip_rise_m(t: np.ndarray, hip_az: np.ndarray, lean: np.ndarray, rec: RepRecord) -> float:
    """How much higher (m, + up) the hips are after an excursion than before it: sitting down or standing
    up moves them ~0.45 m, a hinge rep returns them where they were.

    Between the most upright frame in the second before the excursion and the most upright frame up to
    1.5 s after it (where the body stands or sits still, so its vertical speed is ~0), the vertical
    acceleration is integrated twice with the velocity's linear trend removed (v = 0 at both ends).
    t, hip_az, lean: frames (uniform grid) covering that span."""
    ex_end = rec.start_s + rec.duration_s
    b0 = int(np.searchsorted(t, rec.start_s - TRANSFER_BEFORE_S, side="left"))
    b1 = int(np.searchsorted(t, rec.start_s, side="right"))
    a0 = int(np.searchsorted(t, ex_end, side="left"))
    a1 = int(np.searchsorted(t, min(ex_end + TRANSFER_AFTER_S, rec.end_s), side="right"))
    if b1 <= b0 or a1 <= a0:
        return 0.0
    i0 = int(b0 + np.argmin(lean[b0:b1]))
    i1 = int(a0 + np.argmin(lean[a0:a1]))
    return _rise(t, hip_az, i0, i1)[0]


def hip_rise_so_far_m(t: np.ndarray, hip_az: np.ndarray, lean: np.ndarray, start_s: float) -> tuple[float, float]:
    """`hip_rise_m` of the rep in progress, from the upright moment before its start (`start_s`) to the
    last frame given (taken as a moment of rest: at a rep's top, or seated after sitting down); and the
    hips' vertical velocity (m/s, + up) at that last frame, integrated from rest at the first."""
    b0 = int(np.searchsorted(t, start_s - TRANSFER_BEFORE_S, side="left"))
    b1 = int(np.searchsorted(t, start_s, side="right"))
    if b1 <= b0:
        return 0.0, 0.0
    return _rise(t, hip_az, int(b0 + np.argmin(lean[b0:b1])), len(t) - 1)


def _rise(t: np.ndarray, hip_az: np.ndarray, i0: int, i1: int) -> tuple[float, float]:
    """Vertical displacement (m) from frame i0 to i1, both at rest: the acceleration integrated twice, the
    velocity's linear trend removed (v = 0 at both ends); and the velocity integrated to i1 (m/s) before
    that trend is removed (0, 0 for fewer than 3 frames)."""
    if i1 - i0 < 3:
        return 0.0, 0.0
    dt = float(t[1] - t[0])
    v = np.cumsum(hip_az[i0:i1 + 1]) * dt
    x = np.cumsum(v) * dt
    return float(x[-1] - v[-1] * (i1 - i0) * dt / 2.0), float(v[-1])


def check_transfer(
    rec: RepRecord, t: np.ndarray, hip_az: np.ndarray, lean: np.ndarray, settings: Settings
) -> tuple[RepRecord, float]:
    """The record, marked not valid when its excursion moved the hips up or down for good (sit / stand),
    and how far they moved (`hip_rise_m`; 0.0 for a record that was not valid already)."""
    if not rec.valid:
        return rec, 0.0
    rise = hip_rise_m(t, hip_az, lean, rec)
    return (dataclasses.replace(rec, valid=False) if abs(rise) > settings.max_hip_rise_m else rec), rise
