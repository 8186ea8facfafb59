"""CSV interchange file → recording (docs/ARCHITECTURE.md §4, §5): a CSV replays through the same packet
path as a recording, encoded as `hinge-ref` packets (values quantised as that firmware sends them).

Every row of the file goes into a packet: a hole in the rows ends a packet early (hinge-ref packets carry
1–19 samples, each packet its first sample's counter and time), so the replay loses no sample that
`hinge analyze` sees. (Packing whole packets only, as a simulated radio does, dropped the 1–3 rows
around every lost one: at ≤ 60 Hz that made a 67–100-ms hole and a spurious "data gap".)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hinge import __version__
from hinge.errors import UserError
from hinge.sensing.csvio import read_csv
from hinge.sensing.profiles import DEFAULT_PROFILE, Profile
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.replay import packets_to_recording
from hinge.sensing.types import SENSORS, RawPacket, SensorSeries

LATENCY_S = 0.002  # a packet arrives this long after its last sample


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
    packets = [p for s, ser in series.items() for p in _packets(ser, ser.t - t0, index[s], rates[s], prof)]
    packets.sort(key=lambda p: p.t_host)
    profiles = {s: prof for s in series}
    return packets_to_recording(packets, profiles, rates, out,
                                label=f"converted from {csv_path}", name=f"csv:{Path(csv_path).name}",
                                app_version=__version__)


def _packets(ser: SensorSeries, t: np.ndarray, index: np.ndarray, rate: float, prof: Profile) -> list[RawPacket]:
    """One sensor's rows as packets: each run of consecutive sample indices packed `samples_per_packet` at a
    time (the run's remainder in a shorter packet), arriving `LATENCY_S` after the packet's last sample."""
    out: list[RawPacket] = []
    n = max(1, prof.samples_per_packet)
    cuts = [0, *(np.flatnonzero(np.diff(index) != 1) + 1).tolist(), len(index)]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        idx = index[a:b]
        payloads = prof.encode(ser.acc[a:b], ser.gyr[a:b], seq=idx, device_time_s=idx / rate, rate_hz=rate)
        last = [*range(a + n - 1, b, n)]
        if (b - a) % n:
            last.append(b - 1)
        out += [RawPacket(float(t[i]) + LATENCY_S, ser.sensor, p) for i, p in zip(last, payloads, strict=True)]
    return out
