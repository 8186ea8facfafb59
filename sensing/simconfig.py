"""What a simulated set is made of (`hinge.sensing.simulator`): the generator's constants, the sensor error
model (`SensorErrors`, `CLEAN`, `REALISTIC`), the configuration (`SimConfig`, `lab_protocol`) and its
checks, and the result (`SimulatedSet`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hinge.sensing.errors import InputError
from hinge.sensing.movements import MOVEMENT_KINDS, STANDING_ONLY, Movement
from hinge.sensing.types import SensorSeries

G = 9.81


EXERCISES = ("deadlift", "swing", "good_morning")


FAULT_KINDS = ("trunk_behind_vertical", "posterior_pelvic_tilt", "lumbar_hyperextension", "lumbar_rounding")


TRUTH_FS_HZ = 1000.0


TOP_PHASE_MAX_DEG = 20.0  # analyzer contract: the top phase is where the trunk is below 20°


REP_START_DEG = 15.0  # a rep starts where the trunk rises through 15° (and ends where the next one starts)


MOUNTINGS = ("random", "aligned", "strapped")


POSTURES = ("standing", "seated")


SAMPLE_MODES = ("instant", "averaged", "lowpassed")


TIMESTAMP_MODES = ("device", "counter")


MAX_CLOCK_PPM = 1000.0


SETTLE_S = 1.0  # between reps, a movement starts this long after the rep's top dwell (back to neutral first)


THORACIC_LEVER_M = (0.22, 0.45)  # thoracic sensor above the lumbar joint along the thorax: T12, C7


THORACIC_SKIN_TILT_DEG = (10.0, 35.0)  # the skin normal's upward tilt from posterior (kyphosis): T12, C7


SACRAL_SKIN_TILT_DEG = (30.0, 40.0)  # the sacral skin normal's upward tilt (sacral slope)


@dataclass(frozen=True)
class SensorErrors:
    """Sensor error model (SI units). Defaults: a decent factory-calibrated MEMS IMU."""

    acc_noise_ug_rthz: float = 120.0  # accelerometer noise density, µg/√Hz
    gyr_noise_dps_rthz: float = 0.007  # gyroscope noise density, °/s/√Hz
    gyr_bias_dps: float = 0.5  # |constant gyro bias| per axis up to this, °/s
    gyr_bias_walk_dps_rts: float = 0.003  # bias random walk, °/s/√s
    gyr_scale: float = 0.002  # |gyro scale error| up to this (fraction)
    acc_scale: float = 0.003  # |acc scale error| up to this (fraction)
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    clock_ppm: float = 100.0  # |sensor clock drift| up to this
    lost_sample_prob: float = 0.001  # independent single lost samples
    lost_bursts_per_min: float = 0.0  # bursts of lost samples
    lost_burst_s: tuple[float, float] = (0.02, 0.2)
    time_offset_s: float = 0.0  # |residual time offset| of each sensor on the common time base, up to this
    wobble_deg: float = 0.0  # soft-tissue artefact: strap wobble amplitude (the truth is the segment)


CLEAN = SensorErrors()
IDEAL = SensorErrors(  # no sensor error at all (the body's own sway and the strap's mounting remain)
    acc_noise_ug_rthz=0.0,
    gyr_noise_dps_rthz=0.0,
    gyr_bias_dps=0.0,
    gyr_bias_walk_dps_rts=0.0,
    gyr_scale=0.0,
    acc_scale=0.0,
    clock_ppm=0.0,
    lost_sample_prob=0.0,
)


REALISTIC = SensorErrors(
    acc_noise_ug_rthz=400.0,
    gyr_noise_dps_rthz=0.015,
    gyr_bias_dps=3.0,
    gyr_bias_walk_dps_rts=0.01,
    gyr_scale=0.005,
    acc_scale=0.01,
    lost_sample_prob=0.002,
    lost_bursts_per_min=4.0,
    time_offset_s=0.005,
    wobble_deg=1.0,
)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. `faults` maps a fault kind to a magnitude in degrees (positive number) applied
    to the reps in `fault_reps` (1-based; None = every rep); with `faults=None` each rep gets random
    faults (about a third of reps, magnitudes 0–16°) so a set covers both sides of every limit."""

    exercise: str = "deadlift"
    reps: int = 6
    seed: int = 0
    errors: SensorErrors = CLEAN
    rates_hz: dict[str, float] | None = None  # None: each sensor picks a rate in 50–200 Hz
    faults: dict[str, float] | None = None
    fault_reps: tuple[int, ...] | None = None
    stand_s: float = 3.5
    tail_s: float = 2.5
    mounting: str = "random"  # "random", "aligned" or "strapped" (flat on the skin, any strap yaw, either face out)
    extras: bool = False  # add non-rep movements (a shallow bob, a trunk-only bend) that must not count
    depth_deg: tuple[float, float] | None = None  # trunk depth range per rep (default: per exercise)
    slip_deg: float = 0.0  # the thoracic strap turns by this much about the spine halfway through the set
    dropout: tuple[str, float, float] | None = None  # (sensor, start_s, duration_s): the sensor drops out
    # non-hinge movements (hinge.sensing.movements.MOVEMENT_KINDS) mixed into the set; never reps in the truth
    movements: tuple[str, ...] = ()
    # per movement: 0 = before the first rep, k = after rep k; None = spread over those slots from the seed
    movement_slots: tuple[int, ...] | None = None
    upper_level: float = 0.0  # thoracic sensor height: 0 = T12, 1 = C7
    stoop: bool = False  # stoop reps: the pelvis takes 5–15 % of the trunk depth, the lumbar spine the rest
    posture: str = "standing"  # "seated": slow trunk flexions on a stool from a still seated start
    sample_mode: str = "instant"  # "averaged" (boxcar over the sample period) or "lowpassed" (Butterworth, 0.25 fs)
    timestamps: str = "device"  # "counter": t = sample index / nominal rate + start offset (clock drift shows)
    first_dwell_s: float | None = None  # rep 1 a clean bend back to neutral, then a stand this long (a live start)


@dataclass
class SimulatedSet:
    """A simulated set: per-sensor samples (CSV interchange terms), truth, and the dense truth curves."""

    series: dict[str, SensorSeries]
    truth: dict
    truth_t: np.ndarray
    truth_trunk_deg: np.ndarray
    truth_pelvis_deg: np.ndarray
    holes: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)  # (before, after, missing_s)
    index: dict[str, np.ndarray] = field(default_factory=dict)  # each kept sample's index on its sensor's clock
    rates_hz: dict[str, float] = field(default_factory=dict)  # each sensor's configured (nominal) rate
    truth_trunk_side_deg: np.ndarray | None = None  # trunk roll (ZXY), + = top to the right, on truth_t
    movements: list[Movement] = field(default_factory=list)  # the planned non-hinge movements, in time order
    # generator parameters per sensor: mount (segment ← sensor quaternion xyzw), skin tilt, strap yaw, clock, offsets
    sensor_params: dict[str, dict] = field(default_factory=dict)

    @property
    def truth_lumbar_deg(self) -> np.ndarray:
        return self.truth_trunk_deg - self.truth_pelvis_deg


def lab_protocol(
    seed: int, *, upper_level: float = 0.5, errors: SensorErrors = REALISTIC, rates_hz: dict[str, float] | None = None
) -> SimConfig:
    """A lab recording as seen from another lab's sensors (~50 Hz, no timestamps, strapped flat on the
    skin, samples averaged on the device): seated, a still start of ~4 s, 3 slow forward trunk flexions
    (the only reps), then 3 side bends to each side and 3 axial rotations to each side.
    rates_hz None: 50 Hz for both sensors."""
    sides = ("side_bend_left",) * 3 + ("side_bend_right",) * 3 + ("twist_left",) * 3 + ("twist_right",) * 3
    return SimConfig(
        exercise="good_morning",
        reps=3,
        seed=seed,
        errors=errors,
        rates_hz=dict(rates_hz) if rates_hz is not None else {"sacrum": 50.0, "thoracic": 50.0},
        stand_s=4.0,
        mounting="strapped",
        movements=sides,
        movement_slots=(3,) * len(sides),
        upper_level=upper_level,
        posture="seated",
        sample_mode="averaged",
        timestamps="counter",
    )


def _validate(cfg: SimConfig) -> None:
    def check(name: str, value, allowed) -> None:
        if value not in allowed:
            raise InputError(f"simulate: unknown {name} {value!r}; expected one of {', '.join(allowed)}")

    check("exercise", cfg.exercise, EXERCISES)
    if cfg.reps < 0:
        raise InputError(f"simulate: reps must be >= 0, got {cfg.reps}")
    for kind in cfg.faults or {}:
        check("fault kind", kind, FAULT_KINDS)
    check("mounting", cfg.mounting, MOUNTINGS)
    check("posture", cfg.posture, POSTURES)
    check("sample_mode", cfg.sample_mode, SAMPLE_MODES)
    check("timestamps", cfg.timestamps, TIMESTAMP_MODES)
    allowed = tuple(k for k in MOVEMENT_KINDS if cfg.posture == "standing" or k not in STANDING_ONLY)
    for kind in cfg.movements:
        check(f"movement (posture {cfg.posture})", kind, allowed)
    if cfg.movement_slots is not None and (
        len(cfg.movement_slots) != len(cfg.movements) or any(not 0 <= k <= cfg.reps for k in cfg.movement_slots)
    ):
        raise InputError(f"simulate: movement_slots needs one slot in 0..{cfg.reps} per movement")
    if not 0.0 <= cfg.upper_level <= 1.0:
        raise InputError(f"simulate: upper_level must be in [0, 1] (T12 … C7), got {cfg.upper_level}")
    if not 0.0 <= cfg.errors.clock_ppm <= MAX_CLOCK_PPM:
        raise InputError(f"simulate: clock_ppm must be in [0, {MAX_CLOCK_PPM:g}], got {cfg.errors.clock_ppm}")
