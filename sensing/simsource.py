"""Simulated sensors as packets: a simulated set encoded by a firmware profile, with BLE-like arrival.

The packets are what two real sensors running that firmware would deliver: real payload bytes
(`Profile.encode`), sample counters and device timestamps on each sensor's own (drifting) clock, lost
samples as missing packets, and host arrival times quantised to BLE connection events. They feed the
recorder, the emulated BLE peripherals and the live pipeline exactly like packets from a radio.
"""

from __future__ import annotations

import numpy as np

from hinge.sensing.profiles import Profile
from hinge.sensing.simulator import SimulatedSet
from hinge.sensing.types import RawPacket


def simulated_packets(
    sim: SimulatedSet,
    profiles: dict[str, Profile],
    *,
    connection_interval_s: float = 0.015,
    latency_s: float = 0.002,
) -> list[RawPacket]:
    """All packets of a simulated set, in arrival order.

    profiles: firmware profile per sensor. A packet is sent once its last sample exists and arrives at
    the next connection event (every connection_interval_s, per sensor phase) plus latency_s. Samples the
    simulator lost take their whole packet with them (a packet is lost, not half a packet).
    """
    packets: list[RawPacket] = []
    for k_sensor, (sensor, series) in enumerate(sim.series.items()):
        profile = profiles[sensor]
        rate = sim.rates_hz[sensor]
        idx = sim.index[sensor]
        n = max(1, profile.samples_per_packet)
        group = idx // n
        counts = np.bincount(group)
        full = counts[group] == n
        sel = np.flatnonzero(full)
        usable = len(sel) - len(sel) % n
        sel = sel[:usable]
        if not len(sel):
            continue
        payloads = profile.encode(
            series.acc[sel], series.gyr[sel], seq=idx[sel], device_time_s=idx[sel] / rate, rate_hz=rate
        )
        t_last = series.t[sel][n - 1 :: n]
        phase = (0.37 + 0.29 * k_sensor) * connection_interval_s
        t_arrival = np.ceil((t_last - phase) / connection_interval_s) * connection_interval_s + phase + latency_s
        if len(payloads) != len(t_last):  # stream-framed profiles: one payload per frame as well
            raise ValueError(f"{profile.name}: expected {len(t_last)} payloads, got {len(payloads)}")
        packets += [RawPacket(float(t), sensor, p) for t, p in zip(t_arrival, payloads, strict=True)]
    packets.sort(key=lambda p: p.t_host)
    return packets
