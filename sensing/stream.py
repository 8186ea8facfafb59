"""From raw packets to timed SI samples: per-sensor decoder + timebase, and whole-recording loading.

    RawPacket ─► profile decoder ─► Timebase ─► SampleBlock(sensor, t, acc, gyr, gaps)

The same `SensorStream` serves a live session, a replay and `load_series(recording)`, so a recording
analysed offline goes through exactly the decoding and timing the live session used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hinge.sensing.errors import InputError
from hinge.sensing.profiles import Profile, loads
from hinge.sensing.recording import SENSOR_RATE_FIELD, read_recording
from hinge.sensing.timebase import Gap, Timebase
from hinge.sensing.types import SENSORS, RawPacket, SensorSeries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleBlock:
    """Samples decoded from one packet: t (n,) host seconds; acc (n, 3) m/s²; gyr (n, 3) rad/s (sensor
    frame); gaps found just before them, as (t_before, t_after, n_lost)."""

    sensor: str
    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    gaps: list[Gap] = field(default_factory=list)


class SensorStream:
    """Decoder + timebase of one sensor connection (stateful; feed packets in arrival order)."""

    def __init__(self, sensor: str, profile: Profile, rate_hz: float | None = None):
        self.sensor = sensor
        self.profile = profile
        self.rate_hz = float(rate_hz or profile.nominal_hz)
        self.decoder = profile.decoder(self.rate_hz)
        self.timebase = Timebase(self.rate_hz, profile.has_device_time or profile.has_seq)

    def feed(self, pkt: RawPacket) -> SampleBlock | None:
        """Decode and time one packet: `feed_many` of one."""
        return self.feed_many((pkt.t_host,), (pkt.payload,))

    def feed_many(self, t_host: Sequence[float], payloads: Sequence[bytes]) -> SampleBlock | None:
        """Decode and time many packets of this sensor at once (arrival order): t_host (P,) host arrival
        seconds, payloads (P,). The result does not depend on how packets are split into calls. None when
        no sample was kept: garbage is counted by the decoder, corrupt and out-of-order packets by the
        timebase (the only place that drops samples: times across blocks strictly increase)."""
        samples, packet_index = self.decoder.feed_many(payloads)
        if len(samples) == 0:
            return None
        # the timebase only sees packets that carried samples
        used, index = np.unique(packet_index, return_inverse=True)
        t, gaps = self.timebase.update_packets(np.asarray(t_host, dtype=float)[used], samples, index)
        if len(t) == 0:
            return None
        acc, gyr = samples.acc, samples.gyr
        if len(t) < len(acc):
            keep = self.timebase.kept_mask
            acc, gyr = acc[keep], gyr[keep]
        return SampleBlock(self.sensor, t, acc, gyr, gaps)

    @property
    def lost_samples(self) -> int:
        return self.timebase.lost_samples

    @property
    def bad_packets(self) -> int:
        """Packets that did not decode (garbage, wrong length)."""
        return self.decoder.stats.bad_packets

    @property
    def dropped_packets(self) -> int:
        """Packets that decoded but were dropped by the timebase: corrupt timestamp or counter, or out of
        order (duplicates included)."""
        return self.timebase.corrupt_packets + self.timebase.out_of_order_packets


def streams_from_header(header: Mapping, *, source: str = "recording") -> dict[str, SensorStream]:
    """One SensorStream per placement, from a recording header (profiles from their stored TOML text)."""
    out = {}
    for sensor, info in header["sensors"].items():
        if sensor not in SENSORS:
            continue
        try:
            profile = loads(info["profile_toml"], source=f"{source} header, sensor {sensor}", stem=info["profile"])
        except KeyError as exc:
            raise InputError(f"{source}: header sensor {sensor!r} lacks field {exc.args[0]!r}") from None
        out[sensor] = SensorStream(sensor, profile, info.get(SENSOR_RATE_FIELD))
    return out


def decode_packets(packets: Iterable[RawPacket], streams: Mapping[str, SensorStream], *,
                   chunk_packets: int = 100_000) -> dict[str, SensorSeries]:
    """Decode and time a whole packet sequence into one SensorSeries per sensor.

    Packets are gathered per sensor and decoded `chunk_packets` at a time with `SensorStream.feed_many`
    (vectorised; the result equals feeding them one by one)."""
    parts: dict[str, list[SampleBlock]] = {name: [] for name in streams}
    pending: dict[str, tuple[list[float], list[bytes]]] = {name: ([], []) for name in streams}

    def flush(name: str) -> None:
        times, payloads = pending[name]
        if payloads:
            block = streams[name].feed_many(times, payloads)
            if block is not None:
                parts[name].append(block)
            pending[name] = ([], [])

    for pkt in packets:
        queue = pending.get(pkt.sensor)
        if queue is None:
            continue
        queue[0].append(pkt.t_host)
        queue[1].append(pkt.payload)
        if len(queue[1]) >= chunk_packets:
            flush(pkt.sensor)
    out = {}
    for name, blocks in parts.items():
        flush(name)
        if not blocks:
            continue
        out[name] = SensorSeries(name, np.concatenate([b.t for b in blocks]), np.vstack([b.acc for b in blocks]),
                                 np.vstack([b.gyr for b in blocks]))
    return out


def load_series(path: str | Path) -> dict[str, SensorSeries]:
    """Both sensors' samples from a hinge recording, decoded with the profiles stored in its header."""
    rec = read_recording(path)
    streams = streams_from_header(rec.header, source=str(path))
    series = decode_packets(rec.packets(), streams)
    if rec.stats.bad_lines:
        log.warning("%s: skipped %d corrupted lines", path, rec.stats.bad_lines)
    for sensor, stream in streams.items():
        tb = stream.timebase
        if tb.corrupt_packets or tb.out_of_order_packets:
            log.warning("%s: sensor %s: dropped %d packets with an implausible timestamp or counter and %d "
                        "out of order", path, sensor, tb.corrupt_packets, tb.out_of_order_packets)
    for sensor in SENSORS:
        if sensor not in series:
            raise InputError(f"{path}: sensor {sensor!r} has no decodable packets; both sacrum and thoracic are needed")
    return series
