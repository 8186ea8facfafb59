"""Simulated two-sensor hip-hinge sets with known ground truth.

A forward model: pelvis and thorax rotate in the sagittal plane (with small out-of-plane sway), the
hip moves back and down, and each sensor sits on its segment at a realistic lever arm, in an
arbitrary mounting rotation. The accelerometer sees gravity plus the sensor's linear acceleration
(tangential and centripetal: a kettlebell swing exceeds 1 g at the thoracic sensor), the gyroscope
the segment's angular velocity. Then the sensor errors: white noise, gyro bias and bias random walk,
scale errors, int16 quantisation, per-sensor sample rates, clock drift, lost samples.

Real sets hold more than reps: `movements` mixes side bends, twists, walking with a turn, picking the
weight up and sitting down into the set (the kinematics live in `hinge.sensing.movements`; none is a rep).
Options model what real users and other labs' sensors do: stoop reps, seated hinges, the thoracic
sensor anywhere from T12 to C7 (`upper_level`), sensors strapped flat on the skin at any yaw
(`mounting="strapped"`), samples averaged or low-passed on the device (`sample_mode`) and sensors
without timestamps (`timestamps="counter"`); `lab_protocol` is such a recording. The older options
draw from the seed exactly as before, so an existing config gives the same output; the newer ones
draw from a second generator seeded from the same seed.

Ground truth is the *segment* (not the sensor) sagittal angle relative to the standing posture (the
pitch: the innermost ZXY Euler angle after yaw and roll), the trunk's roll (side bend), and the
per-rep values in the analyzer JSON's terms (docs/ARCHITECTURE.md §6), computed on a 1 kHz truth grid
from the generator's own rep timing; a rep ends where the next one starts or where a non-hinge
movement starts. `truth["movements"]` lists the movements. Nothing here imports `analysis`.

Earth frame: x forward (anterior), y left, z up. A forward inclination θ of a segment is a rotation by
+θ about +y (it tips the segment's up-axis towards +x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hinge.sensing.movements import (
    Movement,
    body_to_earth,
    keyframe_curve,
    plan_movement,
    render,
)
from hinge.sensing.rotseries import RotationSeries
from hinge.sensing.simconfig import (
    CLEAN,
    EXERCISES,
    FAULT_KINDS,
    IDEAL,
    REALISTIC,
    REP_START_DEG,
    SETTLE_S,
    THORACIC_LEVER_M,
    TOP_PHASE_MAX_DEG,
    TRUTH_FS_HZ,
    G,
    SensorErrors,
    SimConfig,
    SimulatedSet,
    _validate,
    lab_protocol,
)
from hinge.sensing.simsensor import _lost, _mount, _sample_sensor, sample_signal
from hinge.sensing.types import SENSORS, SensorSeries

# --------------------------------------------------------------------------------------------------
# kinematics


@dataclass
class _RepPlan:
    t_start: float  # leaves the top
    t_bottom: float
    t_top: float  # reaches the top (lockout)
    t_end: float  # leaves the top for the next rep (or the set ends)
    depth: float  # trunk at bottom
    lumbar_bottom: float
    trunk_top: float
    pelvis_top: float
    injected: dict[str, float]
    settle: bool = False  # non-hinge movements follow: back to neutral within SETTLE_S after t_end


def _plan_reps(cfg: SimConfig, rng: np.random.Generator, rng_x: np.random.Generator) -> tuple[list[_RepPlan], float]:
    """Rep timing and shape; `rng_x` draws only for the new options (stoop), so the others stay as they were."""
    ex = cfg.exercise
    seated = cfg.posture == "seated"
    t = cfg.stand_s
    plans: list[_RepPlan] = []
    for k in range(1, cfg.reps + 1):
        if seated:  # slow trunk flexions on a stool
            down, up, dwell = rng.uniform(2.0, 4.0), rng.uniform(2.0, 4.0), rng.uniform(0.8, 2.0)
            depth = rng.uniform(30, 60)
        elif ex == "swing":
            down, up, dwell = rng.uniform(0.5, 0.65), rng.uniform(0.5, 0.65), 0.0
            depth = rng.uniform(50, 72)
            if k == 1:  # the hike pass: first rep starts from standing
                down += 0.3
        elif ex == "deadlift":
            down, up, dwell = rng.uniform(1.0, 1.6), rng.uniform(0.9, 1.4), rng.uniform(0.4, 1.5)
            depth = rng.uniform(55, 80)
        else:  # good morning
            down, up, dwell = rng.uniform(1.4, 2.0), rng.uniform(1.2, 1.8), rng.uniform(0.3, 1.0)
            depth = rng.uniform(60, 85)
        if cfg.depth_deg is not None:
            depth = rng.uniform(*cfg.depth_deg)
        if seated:  # the pelvis takes 25–45 % of the depth; faults only when asked for
            lumbar_bottom = depth * (1.0 - rng.uniform(0.25, 0.45))
            trunk_top = rng.uniform(-1, 1)
            pelvis_top = rng.uniform(-1, 1)
            injected = _faults_for_rep(cfg, k, rng) if cfg.faults is not None else {}
        else:
            lumbar_bottom = min(rng.uniform(3, 10), 0.5 * depth)
            trunk_top = rng.uniform(-2, 2)
            pelvis_top = rng.uniform(-2, 2)
            injected = _faults_for_rep(cfg, k, rng)
        if "lumbar_rounding" in injected:
            lumbar_bottom = injected["lumbar_rounding"]
        if "trunk_behind_vertical" in injected:
            trunk_top = -injected["trunk_behind_vertical"]
            pelvis_top = trunk_top * rng.uniform(0.0, 0.5)
        if "lumbar_hyperextension" in injected:  # shoulders go back over a pelvis that stays
            trunk_top = min(trunk_top, pelvis_top - injected["lumbar_hyperextension"])
        if "posterior_pelvic_tilt" in injected:  # the tuck: pelvis rolls under, trunk follows partly
            pelvis_top = -injected["posterior_pelvic_tilt"]
            trunk_top = min(trunk_top, pelvis_top * rng.uniform(0.4, 0.8))
        if cfg.stoop:  # the pelvis contributes 5–15 % of the depth: the lumbar spine rounds
            lumbar_bottom = depth * (1.0 - rng_x.uniform(0.05, 0.15))
            injected["lumbar_rounding"] = lumbar_bottom
        if k == 1 and cfg.first_dwell_s is not None:  # the placement bend: clean, back to neutral, a stand
            dwell, trunk_top, pelvis_top, injected = cfg.first_dwell_s, 0.0, 0.0, {}  # (drawn all the same above)
            lumbar_bottom = min(lumbar_bottom, 0.2 * depth)
        t_start = t
        t_bottom = t_start + down
        t_top = t_bottom + up
        t_end = t_top + dwell
        plans.append(_RepPlan(t_start, t_bottom, t_top, t_end, depth, lumbar_bottom, trunk_top, pelvis_top, injected))
        t = t_end
    return plans, t + cfg.tail_s


def _faults_for_rep(cfg: SimConfig, k: int, rng: np.random.Generator) -> dict[str, float]:
    if cfg.faults is not None:
        if cfg.fault_reps is not None and k not in cfg.fault_reps:
            return {}
        return {kind: float(v) for kind, v in cfg.faults.items()}
    out: dict[str, float] = {}
    if rng.random() < 0.35:
        kind = FAULT_KINDS[rng.integers(len(FAULT_KINDS))]
        out[kind] = rng.uniform(12, 35) if kind == "lumbar_rounding" else rng.uniform(3, 16)
    return out


def _segment_curves(t: np.ndarray, plans: list[_RepPlan], cfg: SimConfig, rng: np.random.Generator):
    """Trunk and pelvis sagittal angles (deg) on the truth grid, relative to standing."""
    trunk_keys = [(0.0, 0.0)]
    pelvis_keys = [(0.0, 0.0)]
    lag = 0.02 if cfg.exercise == "swing" else 0.0  # the pelvis leads the trunk slightly in a swing
    for p in plans:
        pelvis_bottom = p.depth - p.lumbar_bottom
        trunk_keys += [(p.t_start, trunk_keys[-1][1]), (p.t_bottom, p.depth), (p.t_top, p.trunk_top)]
        pelvis_keys += [
            (p.t_start - lag, pelvis_keys[-1][1]),
            (p.t_bottom - lag, pelvis_bottom),
            (p.t_top - lag, p.pelvis_top),
        ]
        trunk_keys.append((p.t_end, p.trunk_top))
        pelvis_keys.append((max(p.t_end - lag, p.t_top - lag), p.pelvis_top))
        if p.settle:
            trunk_keys.append((p.t_end + 0.8 * SETTLE_S, 0.0))
            pelvis_keys.append((p.t_end + 0.8 * SETTLE_S, 0.0))
    # return to neutral at the end of the set
    t_back = plans[-1].t_end + 0.8 if plans else cfg.stand_s
    trunk_keys.append((t_back, 0.0))
    pelvis_keys.append((t_back, 0.0))
    trunk = keyframe_curve(t, _dedupe(trunk_keys))
    pelvis = keyframe_curve(t, _dedupe(pelvis_keys))
    if cfg.extras:
        trunk, pelvis = _add_extras(t, trunk, pelvis, plans, cfg)
    # postural sway (sagittal), small, zero-mean
    for seg in (trunk, pelvis):
        for f, a in ((0.23, 0.12), (0.61, 0.06)):
            seg += a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return trunk, pelvis


def _dedupe(keys: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [keys[0]]
    for k in keys[1:]:
        if k[0] > out[-1][0] + 1e-6:
            out.append(k)
        else:
            out[-1] = (out[-1][0], k[1])
    return out


def _add_extras(t, trunk, pelvis, plans, cfg):
    """A non-rep movement after the set: a shallow bob (ROM < 25°). (A trunk-only bend is a rep: a stoop.)"""
    end = plans[-1].t_end if plans else cfg.stand_s
    extra_t0 = end + 1.0
    bob = keyframe_curve(t, [(extra_t0, 0.0), (extra_t0 + 0.8, 18.0), (extra_t0 + 1.6, 0.0)])
    return trunk + bob, pelvis + 0.3 * bob


def _rotations(t: np.ndarray, pitch_deg: np.ndarray, rng: np.random.Generator, sway_deg: float, yaw_roll_deg=None):
    """Segment → earth rotations and the roll (deg): yaw and roll sway about a sagittal pitch (up to
    sway_deg while hinging, 0.3° while standing), plus the movements' (yaw, roll) offsets if given."""
    amp = 0.3 + (sway_deg - 0.3) * np.clip(np.abs(pitch_deg) / 20.0, 0.0, 1.0)
    yaw = amp * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))
    roll = amp * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6.3))
    if yaw_roll_deg is not None:
        yaw, roll = yaw + yaw_roll_deg[0], roll + yaw_roll_deg[1]
    return RotationSeries.from_euler_zxy_deg(yaw, roll, pitch_deg), roll


_WOBBLE_SPAN_S = 6.0


def _wobble(t: np.ndarray, events: list[float], amp_deg: float, rng: np.random.Generator) -> RotationSeries:
    """Soft-tissue artefact: damped 6–10 Hz strap oscillations excited at each rep's bottom and top."""
    rv = np.zeros((len(t), 3))
    for te in events:
        f = rng.uniform(6, 10)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        # the oscillation decays with 0.15 s: past 6 s (e^-40) it is below a float's resolution of what is
        # added to, so only that stretch is computed (the whole tail per event made long sets quadratic)
        m = slice(int(np.searchsorted(t, te)), int(np.searchsorted(t, te + _WOBBLE_SPAN_S)))
        dt = t[m] - te
        rv[m] += np.outer(np.radians(amp_deg) * np.exp(-dt / 0.15) * np.sin(2 * np.pi * f * dt), axis)
    return RotationSeries.from_rotvec(rv)


_BLOCK = 500_000  # truth samples per block where a whole set's temporaries would be large


def _diff_rotation(rot: RotationSeries, h: float) -> np.ndarray:
    """Body-frame angular velocity (N, 3) rad/s of a densely sampled rotation (central differences)."""
    q = rot.as_quat()
    n = len(q)
    w = np.zeros((n, 3))
    for a in range(1, n - 1, _BLOCK):  # in blocks: the temporaries of a whole long set cost gigabytes
        b = min(a + _BLOCK, n - 1)
        w[a:b] = (RotationSeries(q[a - 1 : b - 1]).inv() * RotationSeries(q[a + 1 : b + 1])).as_rotvec() / (2 * h)
    w[0], w[-1] = w[1], w[-2]
    # (r_prev⁻¹ r_next) is a body-frame increment around the middle sample
    return w


def _second_derivative(x: np.ndarray, h: float) -> np.ndarray:
    return np.gradient(np.gradient(x, h, axis=0), h, axis=0)


# --------------------------------------------------------------------------------------------------
# the set




SIM_STAGES = ("plan", "segment curves", "sacrum", "thoracic", "truth")
"""What `simulate_set` reports to its `progress` callback, in order, each when done."""


def simulate_set(cfg: SimConfig, progress: Callable[[str], None] | None = None) -> SimulatedSet:
    """Simulate one set; deterministic for a given config (seed included). progress(stage) is called as
    each of SIM_STAGES is done (a long set takes a while)."""
    done = progress or (lambda _stage: None)
    _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    rng_x = np.random.default_rng([cfg.seed, 9])  # draws of the newer options: the older configs' output stays
    plans, t_total = _plan_reps(cfg, rng, rng_x)
    if cfg.extras:
        t_total += 6.0
    moves, t_total = _place_movements(cfg, plans, t_total, rng_x)
    done("plan")
    h = 1.0 / TRUTH_FS_HZ
    t = np.arange(0.0, t_total + 1e-9, h)
    trunk, pelvis_hinge = _segment_curves(t, plans, cfg, rng)
    done("segment curves")
    ov = render(t, moves) if moves else None
    pelvis = pelvis_hinge
    if ov is not None:
        trunk, pelvis = trunk + ov["trunk_pitch"], pelvis + ov["pelvis_pitch"]
    sway = 2.0 if cfg.exercise == "swing" else 1.5
    yr = (lambda seg: (ov[f"{seg}_yaw"] + ov["heading"], ov[f"{seg}_roll"])) if ov is not None else (lambda seg: None)
    r_pelvis, _ = _rotations(t, pelvis, rng, sway, yr("pelvis"))
    r_trunk, trunk_roll = _rotations(t, trunk, rng, sway, yr("trunk"))

    hip = _hip(t, pelvis_hinge, cfg, ov)
    sacrum_pos = hip + r_pelvis.apply([-0.10, 0.0, 0.06])
    lumbar_joint = hip + r_pelvis.apply([-0.06, 0.0, 0.20])
    lever = THORACIC_LEVER_M[0] + (THORACIC_LEVER_M[1] - THORACIC_LEVER_M[0]) * cfg.upper_level
    thoracic_pos = lumbar_joint + r_trunk.apply([-0.11, 0.0, lever])

    series: dict[str, SensorSeries] = {}
    holes: dict[str, list[tuple[float, float, float]]] = {}
    index: dict[str, np.ndarray] = {}
    rates_out: dict[str, float] = {}
    params: dict[str, dict] = {}
    rates = cfg.rates_hz or {}
    bottoms_tops = [p.t_bottom for p in plans] + [p.t_top for p in plans]
    for sensor, seg_rot, pos in (("sacrum", r_pelvis, sacrum_pos), ("thoracic", r_trunk, thoracic_pos)):
        mount, params[sensor] = _mount(cfg, sensor, rng, rng_x)
        sensor_rot = seg_rot
        if cfg.errors.wobble_deg > 0:
            amp = cfg.errors.wobble_deg * (0.5 if sensor == "sacrum" else 1.0)
            sensor_rot = seg_rot * _wobble(t, bottoms_tops, amp, rng)
        if cfg.slip_deg and sensor == "thoracic":
            turn = cfg.slip_deg * np.clip((t - t_total / 2) / 0.5, 0.0, 1.0)
            slip = RotationSeries.about_z_deg(turn)
            sensor_rot = sensor_rot * slip
        sensor_rot = sensor_rot * RotationSeries.of(mount)
        acc_world = _second_derivative(pos, h)
        if cfg.exercise == "swing" and sensor == "thoracic":
            acc_world = acc_world + _bell_jolts(t, plans, rng)
        f_world = acc_world + np.array([0.0, 0.0, G])
        acc_true = np.empty_like(f_world)
        for a in range(0, len(t), _BLOCK):
            acc_true[a : a + _BLOCK] = RotationSeries(sensor_rot.q[a : a + _BLOCK]).inv().apply(f_world[a : a + _BLOCK])
        gyr_true = _diff_rotation(sensor_rot, h)
        rate = float(rates.get(sensor) or rng.choice([50.0, 60.0, 100.0, 104.0, 120.0, 200.0]))
        drop = cfg.dropout[1:] if cfg.dropout and cfg.dropout[0] == sensor else None
        series[sensor], holes[sensor], index[sensor], clock = _sample_sensor(
            sensor, t, acc_true, gyr_true, rate, cfg.errors, rng, drop, cfg.sample_mode, cfg.timestamps
        )
        params[sensor].update(clock)
        rates_out[sensor] = rate
        done(sensor)

    truth = _truth(cfg, plans, t, trunk, pelvis, trunk_roll, series, holes, moves)
    done("truth")
    return SimulatedSet(series, truth, t, trunk, pelvis, holes, index, rates_out, trunk_roll, moves, params)


def _place_movements(cfg: SimConfig, plans: list[_RepPlan], t_total: float, rng: np.random.Generator):
    """Plan the non-hinge movements, put them into their slots (before the first rep, between reps,
    after the last) and shift the later reps (in place) to make room. Returns (movements, t_total)."""
    if not cfg.movements:
        return [], t_total
    planned = [plan_movement(kind, rng) for kind in cfg.movements]
    n = len(plans)
    slots = cfg.movement_slots
    if slots is None:
        slots = tuple(int(k) for k in rng.integers(0, n + 1, size=len(planned)))
    moves: list[Movement] = []
    shift = 0.0
    for slot in range(n + 1):
        mine = [m for m, k in zip(planned, slots, strict=True) if k == slot]
        if slot < n:  # before rep slot + 1: after the initial stand, or the previous rep settles first
            t_free = t = plans[slot].t_start + shift
            if slot > 0 and mine:
                plans[slot - 1].settle = True
                t += SETTLE_S
        else:  # after the last (already shifted) rep is back to neutral, and after the extras
            t = plans[-1].t_end + (6.0 if cfg.extras else 1.3) if plans else cfg.stand_s
        for m in mine:
            moves.append(replace(m, start_s=t))
            t = moves[-1].next_s
        if slot < n:
            shift += t - t_free
            p = plans[slot]
            plans[slot] = replace(
                p, t_start=p.t_start + shift, t_bottom=p.t_bottom + shift, t_top=p.t_top + shift, t_end=p.t_end + shift
            )
    t_total += shift
    if n in slots:  # the set ends a tail after the last movement
        t_total = max(t_total, moves[-1].next_s + cfg.tail_s)
    return moves, t_total


def _hip(t: np.ndarray, pelvis_deg: np.ndarray, cfg: SimConfig, ov: dict[str, np.ndarray] | None) -> np.ndarray:
    """Hip position (earth frame, metres). Standing: it moves back and down as the hinge deepens (from
    the hinge's pelvis angle); seated: fixed on the stool. Then the movements' body-frame offsets,
    turned by the heading, plus the walked path."""
    if cfg.posture == "seated":
        hip = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.full_like(t, 0.5)])
    else:
        drop = {"deadlift": 0.18, "swing": 0.10, "good_morning": 0.03}[cfg.exercise]
        s = np.clip(pelvis_deg / 60.0, -0.3, 1.5)
        hip = np.column_stack([-0.20 * np.sin(np.radians(pelvis_deg)), np.zeros_like(t), 0.95 - drop * s])
    return hip if ov is None else body_to_earth(hip, ov, 1.0 / TRUTH_FS_HZ)




def _bell_jolts(t: np.ndarray, plans: list[_RepPlan], rng: np.random.Generator) -> np.ndarray:
    """Kettlebell float and snap: the upper back is jerked by 5–15 mm and comes back (no rotation).

    Each jolt is a Gaussian displacement bump; its acceleration is the bump's second derivative, so the
    back ends where it started (a physically possible disturbance: zero net velocity change)."""
    out = np.zeros((len(t), 3))
    sigma = 0.04
    for p in plans:
        for te in (p.t_top - 0.05, p.t_bottom):
            u = (t - te) / sigma
            bump_acc = (u**2 - 1) / sigma**2 * np.exp(-0.5 * u**2)  # d²/dt² of exp(-u²/2)
            direction = np.array([rng.choice([-1.0, 1.0]), 0.0, 0.5])
            out += np.outer(rng.uniform(0.005, 0.015) * bump_acc, direction)
    return out






# --------------------------------------------------------------------------------------------------
# truth in the analyzer JSON's terms


def _truth(cfg, plans, t, trunk, pelvis, roll, series, holes, moves) -> dict:
    lumbar = trunk - pelvis
    # the analyzer contract: a rep ends where the trunk next leans forward or sideways past the start angle
    # (the next rep, a side bend, sitting down...); twisting or walking on after the top is part of the top
    lean = trunk if roll is None else np.maximum(trunk, np.abs(roll))
    # rep windows on the truth curve: start where the trunk rises through REP_START_DEG
    # each rep looks only at its own stretch of the (sorted) truth grid, found by binary search: masks over
    # the whole grid per rep made a long set quadratic in its length
    def at(x: float, side: str = "left") -> int:
        return int(np.searchsorted(t, x, side=side))

    starts = []
    for p in plans:
        a = at(p.t_start)
        m = np.flatnonzero(trunk[a : at(p.t_bottom, "right")] >= REP_START_DEG)
        starts.append(t[a + m[0]] if len(m) else p.t_start)
    end_of_data = min(float(s.t[-1]) for s in series.values())
    reps = []
    for k, p in enumerate(plans):
        start = starts[k]
        end = starts[k + 1] if k + 1 < len(plans) else end_of_data
        end = min(end, _next_lean(t, lean, p, end_of_data))
        in_rep = slice(at(start), at(end, "right"))
        i_bottom = in_rep.start + int(np.argmax(trunk[in_rep]))
        c = at(p.t_bottom, "right")
        top_idx = c + np.flatnonzero(trunk[c : at(end)] < TOP_PHASE_MAX_DEG)
        i_top = top_idx[np.argmin(trunk[top_idx])]
        # more than 50 ms of missing data overlapping the rep marks it as a gap
        gap = any(missing > 0.05 and a < end and b > start for hs in holes.values() for (a, b, missing) in hs)
        reps.append(
            {
                "index": k + 1,
                "start_s": round(float(start), 3),
                "bottom_s": round(float(t[i_bottom]), 3),
                "top_s": round(float(t[i_top]), 3),
                "end_s": round(float(end), 3),
                "depth_deg": round(float(trunk[in_rep].max()), 3),
                "trunk_top_deg": round(float(trunk[top_idx].min()), 3),
                "pelvis_top_deg": round(float(pelvis[top_idx].min()), 3),
                "lumbar_top_deg": round(float(lumbar[top_idx].min()), 3),
                "lumbar_flexion_max_deg": round(float(lumbar[in_rep].max()), 3),
                "gap": bool(gap),
                "injected": {kind: round(v, 3) for kind, v in p.injected.items()},
            }
        )
    return {
        "input": "simulated",
        "exercise": cfg.exercise,
        "seed": cfg.seed,
        "calibration": {"neutral_start_s": 0.0, "neutral_end_s": cfg.stand_s, "quality": "ok"},
        "sensors": {
            name: {"rate_hz": round(float(1.0 / np.median(np.diff(s.t))), 3), "lost_samples": _lost(s)}
            for name, s in series.items()
        },
        "reps": reps,
        "summary": {"n_reps": len(reps)},
        "movements": [{"kind": m.kind, "start_s": round(m.start_s, 3), "end_s": round(m.end_s, 3)} for m in moves],
    }


def _next_lean(t, lean, p: _RepPlan, end_of_data: float) -> float:
    """Where the trunk next leans past the start angle after a rep's top, else the end of data (searched
    in growing blocks from the top on: the next lean is usually seconds away, the end of data minutes)."""
    i, block = int(np.searchsorted(t, p.t_top, side="right")), 4096
    while i < len(t):
        m = np.flatnonzero(lean[i : i + block] >= REP_START_DEG)
        if len(m):
            return float(t[i + m[0]])
        i, block = i + block, 2 * block
    return end_of_data




__all__ = [
    "CLEAN",
    "EXERCISES",
    "FAULT_KINDS",
    "IDEAL",
    "REALISTIC",
    "SENSORS",
    "SensorErrors",
    "SimConfig",
    "SimulatedSet",
    "lab_protocol",
    "sample_signal",
    "simulate_set",
]
