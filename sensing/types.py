"""Data types shared by every packet source and by the recorder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SENSORS = ("sacrum", "thoracic")
OTHER_PLACEMENT = {"sacrum": "thoracic", "thoracic": "sacrum"}  # where each sensor sits when the two are swapped


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One notification payload as it arrived.

    t_host: host seconds since the session started (monotonic clock).
    sensor: placement name, one of SENSORS.
    payload: the notification bytes, untouched.
    """

    t_host: float
    sensor: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SensorSeries:
    """One sensor's samples on the common time base (SI units, sensor frame).

    t: (n,) seconds; acc: (n, 3) m/s²; gyr: (n, 3) rad/s.
    """

    sensor: str
    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray

    def __len__(self) -> int:
        return len(self.t)
