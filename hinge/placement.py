"""The start of a live session: both sensors streaming at their configured rates, "bend forward once" to
check which sensor sits where, then "stand still" with a countdown while the analysis calibrates.

    streaming ──both sensors for STREAM_S──► bend ──a forward bend, back up──► calibrate ──still COUNTDOWN_S──► done

`StartupCheck` watches each sensor's decoded samples (host seconds, acc m/s², gyr rad/s) and tells the
session from which sample time the analysis may take them (`analysis_from_s`: the bend itself is not a
rep, and the neutral posture is the stand that follows). Which sensor moved more comes from each sensor's
inclination, the angle between its (smoothed) specific force and the one it had standing at the start:
the thoracic sensor must incline more than the sacral one in a forward bend (the lumbar spine flexes; see
`hinge.analysis.core.PlacementCheck` for the same physics over the reps). Everything runs on sample time,
so the phases and the countdown follow the data whatever clock paces it.
"""

from __future__ import annotations

import math

import numpy as np

STREAM_S = 1.0  # both sensors streaming this long (their sample time) before the bend is asked for
RATE_TOLERANCE = 0.2  # a measured rate this far off the configured one is reported
BEND_DEG = 30.0  # a bend: some sensor inclined beyond this
BACK_DEG = 10.0  # and back up: every sensor below this again
SMOOTH_S = 0.2  # time constant of the specific-force smoothing (walks through the bend's accelerations)
COUNTDOWN_S = 3.0  # stand still this long (both sensors) after the bend
STILL_DPS = 15.0  # still: both gyroscopes (smoothed) below this
PHASES = ("streaming", "bend", "calibrate", "done")


class _Sensor:
    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.n = 0
        self.f: np.ndarray | None = None  # smoothed specific force
        self.w = 0.0  # smoothed angular speed (°/s)
        self.up: np.ndarray | None = None  # specific-force direction standing at the start
        self.up_sum = np.zeros(3)
        self.max_tilt_deg = 0.0

    @property
    def measured_hz(self) -> float:
        span = (self.t_last or 0.0) - (self.t_first or 0.0)
        return (self.n - 1) / span if span > 0 else 0.0

    def tilt_deg(self) -> float:
        if self.f is None or self.up is None:
            return 0.0
        c = float(np.dot(self.f, self.up) / (np.linalg.norm(self.f) * np.linalg.norm(self.up) + 1e-12))
        return math.degrees(math.acos(max(-1.0, min(1.0, c))))


class StartupCheck:
    """Placement check and calibration countdown. rates_hz: configured rate per placement.

    `feed(sensor, t, acc, gyr)` per decoded block; `phase`, `text` (what the views show, None when done),
    `swapped` (None until the bend was seen; True: the sacrum sensor inclined more), `tilts_deg` (each
    sensor's largest inclination in the bend), `analysis_from_s` (None while the bend is pending)."""

    def __init__(self, rates_hz: dict[str, float], *, countdown_s: float = COUNTDOWN_S) -> None:
        self.sensors = {name: _Sensor(float(r)) for name, r in rates_hz.items()}
        self.countdown_s = countdown_s
        self.phase = "streaming"
        self.swapped: bool | None = None
        self.tilts_deg: dict[str, float] = {}
        self.analysis_from_s: float | None = None
        self._still_since: float | None = None
        self._t_now = -math.inf
        self.problems: list[str] = []

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def remaining_s(self) -> float:
        """Countdown seconds left (calibrate phase)."""
        if self._still_since is None:
            return self.countdown_s
        return max(0.0, self.countdown_s - (self._t_now - self._still_since))

    @property
    def text(self) -> str | None:
        if self.phase == "streaming":
            waiting = [n for n, s in self.sensors.items() if s.n == 0]
            if waiting:
                return f"Waiting for the {' and '.join(waiting)} sensor{'s' if len(waiting) > 1 else ''}…"
            return "Both sensors streaming · stand still…"
        extra = f" · {'; '.join(self.problems)}" if self.problems else ""
        if self.phase == "bend":
            return f"Placement check: bend forward once, then stand up{extra}"
        if self.phase == "calibrate":
            left = math.ceil(self.remaining_s() - 1e-9)
            placed = self.placement_text()
            return f"{placed} · Stand still: {left} s{extra}"
        return None

    def placement_text(self) -> str:
        t = self.tilts_deg
        if self.swapped:
            return (f"Sensors swapped? the sacrum sensor inclined {t['sacrum']:.0f}°, the thoracic {t['thoracic']:.0f}°"
                    " (swap the straps, or the sensors in the app)")
        return f"Placement ok (thoracic {t['thoracic']:.0f}°, sacrum {t['sacrum']:.0f}°)"

    def feed(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        s = self.sensors.get(sensor)
        if s is None or self.done or len(t) == 0:
            return
        if s.t_first is None:
            s.t_first = float(t[0])
        s.t_last = float(t[-1])
        s.n += len(t)
        alpha = min(1.0, 1.0 / (s.rate_hz * SMOOTH_S))
        speed = np.degrees(np.linalg.norm(gyr, axis=1))
        for k in range(len(t)):
            s.f = acc[k].copy() if s.f is None else s.f + alpha * (acc[k] - s.f)
            s.w += alpha * (float(speed[k]) - s.w)
            if self.phase == "streaming":
                s.up_sum += acc[k]
            self._step(float(t[k]))

    def _step(self, t: float) -> None:
        self._t_now = max(self._t_now, t)
        if self.phase == "streaming":
            if all(s.n and s.t_last - s.t_first >= STREAM_S for s in self.sensors.values()):
                for name, s in self.sensors.items():
                    s.up = s.up_sum / np.linalg.norm(s.up_sum)
                    if abs(s.measured_hz - s.rate_hz) > RATE_TOLERANCE * s.rate_hz:
                        self.problems.append(f"{name} streams at {s.measured_hz:.0f} Hz, not {s.rate_hz:.0f} Hz")
                self.phase = "bend"
            return
        if self.phase == "bend":
            tilts = {n: s.tilt_deg() for n, s in self.sensors.items()}
            for n, s in self.sensors.items():
                s.max_tilt_deg = max(s.max_tilt_deg, tilts[n])
            bent = max(s.max_tilt_deg for s in self.sensors.values()) >= BEND_DEG
            if bent and max(tilts.values()) < BACK_DEG:
                self.tilts_deg = {n: s.max_tilt_deg for n, s in self.sensors.items()}
                self.swapped = self.tilts_deg.get("sacrum", 0.0) > self.tilts_deg.get("thoracic", 0.0)
                self.analysis_from_s = t
                self.phase = "calibrate"
            return
        if self.phase == "calibrate":
            still = all(s.w < STILL_DPS for s in self.sensors.values())
            if not still:
                self._still_since = None
            elif self._still_since is None:
                self._still_since = t
            elif t - self._still_since >= self.countdown_s:
                self.phase = "done"
