"""CSV interchange file → recording (docs/ARCHITECTURE.md §4, §5): a CSV replays through the same packet
path as a recording, encoded as `hinge-ref` packets (values quantised as that firmware sends them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hinge import __version__
from hinge.errors import UserError
from hinge.sensing.csvio import read_csv
from hinge.sensing.profiles import DEFAULT_PROFILE
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.replay import packets_to_recording
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimulatedSet
from hinge.sensing.types import SENSORS


def csv_to_recording(csv_path: str | Path, out: str | Path, profile: str = DEFAULT_PROFILE) -> Path:
    """Write a CSV interchange file as a recording of `profile` packets (sample rate per sensor from the
    median sample spacing; arrival times as a BLE link would deliver them)."""
    series = read_csv(csv_path)
    missing = [s for s in SENSORS if s not in series]
    if missing:
        raise UserError(f"{csv_path}: no rows for sensor {missing[0]!r}; both sacrum and thoracic are needed")
    prof = load_profile(profile)
    rates, index = {}, {}
    for s, ser in series.items():
        if len(ser.t) < 2:
            raise UserError(f"{csv_path}: sensor {s!r} has {len(ser.t)} rows; need at least 2")
        rates[s] = float(1.0 / np.median(np.diff(ser.t)))
        index[s] = np.rint((ser.t - ser.t[0]) * rates[s]).astype(int)
    t0 = min(float(ser.t[0]) for ser in series.values())
    shifted = {s: type(ser)(s, ser.t - t0, ser.acc, ser.gyr) for s, ser in series.items()}
    fake = SimulatedSet(series=shifted, truth={}, truth_t=np.zeros(0), truth_trunk_deg=np.zeros(0),
                        truth_pelvis_deg=np.zeros(0), index=index, rates_hz=rates)
    profiles = {s: prof for s in series}
    return packets_to_recording(simulated_packets(fake, profiles), profiles, rates, out,
                                label=f"converted from {csv_path}", name=f"csv:{Path(csv_path).name}",
                                app_version=__version__)
