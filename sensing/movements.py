"""Kinematics library for the simulator: minimum-jerk keyframe curves and the non-hinge movements
that real sets contain (side bends, twists, walking with a turn, picking the weight up, sitting down).

Pure numpy (and scipy's Rotation). A movement is planned once from a random generator (all its
parameters are drawn then, so the truth can quote them) and rendered as *offsets* on the 1 kHz truth
grid; the composer (`hinge.sensing.simulator`) adds them to the hinge kinematics. Channels (`CHANNELS`):

- `trunk_yaw`, `trunk_roll`, `trunk_pitch`, `pelvis_yaw`, `pelvis_roll`, `pelvis_pitch`: degrees, the
  segment's ZXY Euler angles (yaw about the earth vertical, roll about the forward axis, pitch about the
  mediolateral axis, innermost). Roll + tips the segment's top towards the right (−y), yaw + turns it
  to the left (counter-clockwise seen from above), pitch + forward.
- `heading`: degrees, a whole-body turn about the vertical (added to both segments' yaw; it also turns
  the body-frame hip offsets and the walking direction). It is the only channel that does not return
  to zero: after a 180° turn the person faces the other way.
- `speed`: m/s, walking speed along the heading (the composer integrates it into a path).
- `hip_fwd`, `hip_left`, `hip_up`: metres, hip displacement in the body frame (turned by the heading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

CHANNELS = (
    "trunk_yaw",
    "trunk_roll",
    "trunk_pitch",
    "pelvis_yaw",
    "pelvis_roll",
    "pelvis_pitch",
    "heading",
    "speed",
    "hip_fwd",
    "hip_left",
    "hip_up",
)
# one-sided variants bend/twist to one side only; the plain kinds go to the left and then to the right
MOVEMENT_KINDS = (
    "side_bend",
    "side_bend_left",
    "side_bend_right",
    "twist",
    "twist_left",
    "twist_right",
    "walk_turn",
    "setup",
    "sit_stand",
)
STANDING_ONLY = ("walk_turn", "setup", "sit_stand")  # need the person on their feet

Keys = list[tuple[float, float]]


def quintic(a: float | np.ndarray, b: float | np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend from a to b, tau in [0, 1] (zero velocity and acceleration at both ends)."""
    tau = np.clip(tau, 0.0, 1.0)
    return a + (b - a) * tau**3 * (10 - 15 * tau + 6 * tau**2)


def keyframe_curve(t: np.ndarray, keys: Keys) -> np.ndarray:
    """Piecewise minimum-jerk curve through (time, value) keyframes (times non-decreasing); held flat
    outside them. A time on a keyframe takes the segment that starts there.

    One pass over `t` (each sample finds its segment by binary search): a set of many reps has many
    keyframes, and a mask over all of `t` per segment made a long set quadratic in its length."""
    kt = np.array([k[0] for k in keys], dtype=float)
    kv = np.array([k[1] for k in keys], dtype=float)
    out = np.full_like(t, kv[0])
    if len(keys) > 1:
        seg = np.searchsorted(kt, t, side="right") - 1  # the last keyframe at or before each t
        inside = (seg >= 0) & (t <= kt[-1])
        seg = np.minimum(seg[inside], len(kt) - 2)  # t on the last keyframe: the end of the last segment
        tau = (t[inside] - kt[seg]) / np.maximum(kt[seg + 1] - kt[seg], 1e-9)
        out[inside] = quintic(kv[seg], kv[seg + 1], tau)
    out[t > kt[-1]] = kv[-1]
    return out


@dataclass(frozen=True)
class Gait:
    """Walking oscillations (angles in degrees, displacements in metres) under an on/off envelope."""

    step_hz: float
    t_on: float  # envelope ramps 0 → 1 over [t_on, t_on + ramp] and back over [t_off − ramp, t_off]
    t_off: float
    ramp: float
    phase: float
    pelvis_pitch: float = 3.0
    pelvis_roll: float = 4.0
    pelvis_yaw: float = 5.0
    trunk_amp: float = 2.0
    bounce: float = 0.025
    hip_sway: float = 0.02
    speed_ripple: float = 0.08


@dataclass(frozen=True)
class Movement:
    """One planned non-hinge movement. Times are local (0 = its start) until `start_s` is set; the
    movement proper lasts `motion_s`, then the person stands (or sits) still for `still_s`."""

    kind: str
    motion_s: float
    still_s: float
    keys: dict[str, Keys]
    params: dict[str, float] = field(default_factory=dict)
    gait: Gait | None = None
    start_s: float = 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.motion_s

    @property
    def next_s(self) -> float:
        return self.start_s + self.motion_s + self.still_s


def _there_and_back(peak: float, t0: float, dur: float, hold: float = 0.1) -> Keys:
    """0 → peak → 0 over dur seconds starting at t0, holding the peak for `hold` of the duration."""
    return [(t0, 0.0), (t0 + (0.5 - hold / 2) * dur, peak), (t0 + (0.5 + hold / 2) * dur, peak), (t0 + dur, 0.0)]


def _one_sided(kind: str, sides: list[float], rng: np.random.Generator) -> Movement:
    """Side bends (roll) or twists (yaw) to the given sides in turn (+1 left, −1 right), 2–4 s / 1.5–3 s each."""
    keys: dict[str, Keys] = {}
    params: dict[str, float] = {}
    t = 0.0
    for i, side in enumerate(sides):
        if kind.startswith("side_bend"):
            dur = rng.uniform(2.0, 4.0)
            trunk = -side * rng.uniform(20.0, 35.0)  # a bend to the left is a negative roll
            pelvis = trunk * rng.uniform(0.03, 3.0 / 35.0)  # |pelvis| ≤ 3°
            pairs = (("trunk_roll", trunk), ("pelvis_roll", pelvis))
        else:
            dur = rng.uniform(1.5, 3.0)
            trunk = side * rng.uniform(30.0, 50.0)
            pelvis = side * rng.uniform(2.0, 5.0)
            coupling = rng.uniform(-2.0, 2.0)  # a little sagittal coupling, trunk and pelvis alike
            pairs = (("trunk_yaw", trunk), ("pelvis_yaw", pelvis))
            pairs += (("trunk_pitch", coupling), ("pelvis_pitch", coupling))
        for name, peak in pairs:
            keys.setdefault(name, []).extend(_there_and_back(peak, t, dur))
            params[f"{name}_deg_{i}"] = float(peak)
        t += dur
    return Movement(kind, t, rng.uniform(1.0, 2.0), keys, params)


def _walk_turn(rng: np.random.Generator) -> Movement:
    dur = rng.uniform(4.0, 8.0)
    turn_s = rng.uniform(1.0, 2.0)
    turn_deg = rng.choice([-180.0, 180.0])
    t_turn = 0.5 * (dur - turn_s)
    v = rng.uniform(1.1, 1.3)
    gait = Gait(step_hz=rng.uniform(1.7, 1.9), t_on=0.0, t_off=dur, ramp=0.6, phase=rng.uniform(0, 2 * np.pi))
    keys = {
        "heading": [(t_turn, 0.0), (t_turn + turn_s, turn_deg)],
        # walking speed: ramps up, slows down to 30 % through the turn, ramps down to a stop
        "speed": [
            (0.0, 0.0),
            (0.6, v),
            (t_turn - 0.3, v),
            (t_turn + 0.2, 0.3 * v),
            (t_turn + turn_s - 0.2, 0.3 * v),
            (t_turn + turn_s + 0.3, v),
            (dur - 0.6, v),
            (dur, 0.0),
        ],
    }
    params = {"turn_deg": float(turn_deg), "turn_s": turn_s, "speed": v, "step_hz": gait.step_hz}
    return Movement("walk_turn", dur, rng.uniform(1.0, 2.0), keys, params, gait)


def _setup(rng: np.random.Generator) -> Movement:
    """Squat down to the weight and back up: hip drops 0.35–0.45 m, trunk ≤ 20° forward, pelvis tucks."""
    down, pause, up = rng.uniform(2.0, 3.0), rng.uniform(0.5, 1.5), rng.uniform(2.0, 3.0)
    levels = {
        "hip_up": -rng.uniform(0.35, 0.45),
        "hip_fwd": -rng.uniform(0.08, 0.15),
        "trunk_pitch": rng.uniform(10.0, 20.0),
        "pelvis_pitch": -rng.uniform(3.0, 8.0),
    }
    tb = down + pause
    keys = {name: [(0.0, 0.0), (down, x), (tb, x), (tb + up, 0.0)] for name, x in levels.items()}
    return Movement("setup", tb + up, rng.uniform(1.0, 2.0), keys, {k: float(v) for k, v in levels.items()})


def _sit_stand(rng: np.random.Generator) -> Movement:
    """Sit down onto a bench (trunk forward 30–40° in the transfer), sit still 2 s, stand up again."""
    sit, seated, stand = rng.uniform(1.5, 2.5), 2.0, rng.uniform(1.5, 2.5)
    lean_down, lean_up = rng.uniform(30.0, 40.0), rng.uniform(30.0, 40.0)
    share = rng.uniform(0.4, 0.6)  # the pelvis takes part in the forward lean of the transfer
    trunk_seated = rng.uniform(-3.0, 3.0)
    pelvis_seated = -rng.uniform(10.0, 15.0)  # seated: posterior tilt relative to standing
    t1, t2 = sit + seated, sit + seated + stand

    def transfer(lean_down_v: float, seat: float, lean_up_v: float) -> Keys:
        return [(0.0, 0.0), (0.45 * sit, lean_down_v), (sit, seat), (t1, seat), (t1 + 0.55 * stand, lean_up_v)] + [
            (t2, 0.0)
        ]

    keys = {
        "trunk_pitch": transfer(lean_down, trunk_seated, lean_up),
        "pelvis_pitch": transfer(lean_down * share, pelvis_seated, lean_up * share),
        "hip_up": [(0.0, 0.0), (sit, -0.45), (t1, -0.45), (t2, 0.0)],
        "hip_fwd": [(0.0, 0.0), (sit, -0.20), (t1, -0.20), (t2, 0.0)],
    }
    params = {
        "lean_down_deg": lean_down,
        "lean_up_deg": lean_up,
        "pelvis_seated_deg": pelvis_seated,
        "trunk_seated_deg": trunk_seated,
    }
    return Movement("sit_stand", t2, rng.uniform(1.0, 2.0), keys, params)


def plan_movement(kind: str, rng: np.random.Generator) -> Movement:
    """Draw one movement's parameters (local times: it starts at 0)."""
    if kind == "walk_turn":
        return _walk_turn(rng)
    if kind == "setup":
        return _setup(rng)
    if kind == "sit_stand":
        return _sit_stand(rng)
    if kind.endswith("_left"):
        return _one_sided(kind, [1.0], rng)
    if kind.endswith("_right"):
        return _one_sided(kind, [-1.0], rng)
    if kind in ("side_bend", "twist"):
        return _one_sided(kind, [1.0, -1.0], rng)
    raise ValueError(f"unknown movement kind {kind!r}")


def render(t: np.ndarray, movements: list[Movement]) -> dict[str, np.ndarray]:
    """The movements' offsets on the time grid t, per channel (see the module docstring)."""
    out = {name: np.zeros_like(t) for name in CHANNELS}
    for m in movements:
        for name, keys in m.keys.items():
            out[name] += keyframe_curve(t, [(m.start_s + tk, v) for tk, v in keys])
        if m.gait is not None:
            _add_gait(t, m.start_s, m.gait, out)
    return out


def _add_gait(t: np.ndarray, start_s: float, g: Gait, out: dict[str, np.ndarray]) -> None:
    """Walking: pelvis pitch and the vertical bounce at the step frequency; pelvic obliquity, pelvic and
    (counter-rotating) thoracic yaw and the lateral hip sway at the stride frequency (half of it)."""
    tl = t - start_s
    env = keyframe_curve(tl, [(g.t_on, 0.0), (g.t_on + g.ramp, 1.0), (g.t_off - g.ramp, 1.0), (g.t_off, 0.0)])
    step = 2 * np.pi * g.step_hz * tl + g.phase
    stride = 0.5 * step
    out["pelvis_pitch"] += env * g.pelvis_pitch * np.sin(step)
    out["pelvis_roll"] += env * g.pelvis_roll * np.sin(stride)
    out["pelvis_yaw"] += env * g.pelvis_yaw * np.sin(stride + np.pi / 2)
    out["trunk_yaw"] -= env * g.trunk_amp * np.sin(stride + np.pi / 2)
    out["trunk_roll"] += env * 0.5 * g.trunk_amp * np.sin(stride + 0.3)
    out["trunk_pitch"] += env * 0.5 * g.trunk_amp * np.sin(step + 0.5)
    out["hip_up"] += env * g.bounce * np.sin(step - np.pi / 2)
    out["hip_left"] += env * g.hip_sway * np.sin(stride)
    out["speed"] += env * g.speed_ripple * np.sin(step)


def body_to_earth(hip: np.ndarray, ov: dict[str, np.ndarray], h: float) -> np.ndarray:
    """Earth-frame hip positions (n, 3) from body-frame ones plus the movements' offsets: turned by the
    heading, plus the path walked at `speed` along it (grid step h)."""
    fwd, left = hip[:, 0] + ov["hip_fwd"], hip[:, 1] + ov["hip_left"]
    c, s = np.cos(np.radians(ov["heading"])), np.sin(np.radians(ov["heading"]))
    path_x, path_y = np.cumsum(ov["speed"] * c) * h, np.cumsum(ov["speed"] * s) * h
    return np.column_stack([c * fwd - s * left + path_x, s * fwd + c * left + path_y, hip[:, 2] + ov["hip_up"]])


def skin_mount(tilt_deg: float, strap_yaw_deg: float, face_out: bool) -> Rotation:
    """Sensor → segment rotation of a sensor lying flat on the skin of the back.

    The outward skin normal is the segment's posterior direction (−x) tilted upward by tilt_deg; the
    sensor's z axis lies along it (face_out) or against it (put on face down). Before the strap yaw
    (about the sensor's z) the sensor's x axis points up the spine."""
    a = np.radians(tilt_deg)
    normal = np.array([-np.cos(a), 0.0, np.sin(a)])
    along = np.array([np.sin(a), 0.0, np.cos(a)])  # up the spine, in the skin plane
    sign = 1.0 if face_out else -1.0
    base = Rotation.from_matrix(np.column_stack([along, sign * np.array([0.0, 1.0, 0.0]), sign * normal]))
    return base * Rotation.from_euler("z", strap_yaw_deg, degrees=True)


__all__ = [
    "CHANNELS",
    "MOVEMENT_KINDS",
    "STANDING_ONLY",
    "Gait",
    "Movement",
    "body_to_earth",
    "keyframe_curve",
    "plan_movement",
    "quintic",
    "render",
    "skin_mount",
]
