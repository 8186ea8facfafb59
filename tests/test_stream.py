"""Decoding in batches (`SensorStream.feed_many`, `decode_packets`, `load_series`) equals packet-by-packet decoding.

The reference is `SensorStream.feed` per packet (a batch of one). Packet
streams come from the simulator (`simulated_packets`), damaged on purpose: random packet loss, garbage
and split / doubled payloads, counters and device clocks pushed to just before their wrap, a device
reboot (counter and clock restart), a long outage. Batches are cut at random places.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hinge.sensing import profiles
from hinge.sensing.recording import Recorder, SensorInfo
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import REALISTIC, SimConfig, simulate_set
from hinge.sensing.stream import SensorStream, decode_packets, load_series
from hinge.sensing.types import RawPacket

RATES = {"hinge-ref": 200.0, "movella-dot": 60.0, "movesense": 104.0, "nordic-thingy52": 100.0,
         "witmotion-bwt901ble": 100.0}
# (offset, size, ticks) of little-endian counter / device-clock fields, started `ticks` (3 s) before their wrap
WRAP_FIELDS = {"hinge-ref": [(2, 2, 600), (4, 4, 3_000_000)], "movella-dot": [(0, 4, 3_000_000)],
               "movesense": [(2, 4, 3000)]}


@pytest.fixture(scope="module")
def sims():
    return {rate: simulate_set(SimConfig(reps=2, seed=11, errors=REALISTIC,
                                         rates_hz={"sacrum": rate, "thoracic": rate}))
            for rate in set(RATES.values())}


def _shift_field(payload: bytes, offset: int, size: int, delta: int) -> bytes:
    if len(payload) < offset + size:
        return payload
    raw = (int.from_bytes(payload[offset:offset + size], "little") + delta) % (1 << (8 * size))
    return payload[:offset] + raw.to_bytes(size, "little") + payload[offset + size:]


def damaged_stream(sim, name: str, rng: np.random.Generator) -> list[RawPacket]:
    """Simulated packets of both sensors with wrap, reboot, outage, loss and garbage (see module doc)."""
    p = profiles.load(name)
    pk = simulated_packets(sim, {"sacrum": p, "thoracic": p})
    t_end = pk[-1].t_host
    reboot_t, outage_t = 0.6 * t_end, 0.3 * t_end
    out = []
    for q in pk:
        payload = q.payload
        for off, size, ticks in WRAP_FIELDS.get(name, []):  # wrap 3 s in; the reboot jumps back by 30 %
            delta = (1 << (8 * size)) - ticks - (0 if q.t_host < reboot_t else 3 << (8 * size - 4))
            payload = _shift_field(payload, off, size, delta)
        if outage_t < q.t_host < outage_t + 1.5:
            continue
        r = rng.random()
        if r < 0.03:
            continue  # lost
        if r < 0.05:
            garbage = rng.integers(0, 256, int(rng.integers(0, 40)), np.uint8).tobytes()
            out.append(RawPacket(q.t_host, q.sensor, garbage))
        elif r < 0.06 and len(payload) > 3:
            out += [RawPacket(q.t_host, q.sensor, payload[:3]), RawPacket(q.t_host, q.sensor, payload[3:])]
            continue
        elif r < 0.065:
            payload = payload + payload
        out.append(RawPacket(q.t_host, q.sensor, payload))
    return out


def reference(packets: list[RawPacket], name: str):
    """Per sensor: concatenated t, acc, gyr, the gaps, and the stream (for its counters), packet by packet."""
    p = profiles.load(name)
    res = {}
    for sensor in ("sacrum", "thoracic"):
        st = SensorStream(sensor, p, RATES[name])
        blocks = [b for q in packets if q.sensor == sensor and (b := st.feed(q)) is not None]
        res[sensor] = (np.concatenate([b.t for b in blocks]), np.vstack([b.acc for b in blocks]),
                       np.vstack([b.gyr for b in blocks]), [g for b in blocks for g in b.gaps], st)
    return res


def assert_same(ref, blocks, st: SensorStream):
    t_ref, acc_ref, gyr_ref, gaps_ref, st_ref = ref
    np.testing.assert_array_equal(np.vstack([b.acc for b in blocks]), acc_ref)
    np.testing.assert_array_equal(np.vstack([b.gyr for b in blocks]), gyr_ref)
    np.testing.assert_allclose(np.concatenate([b.t for b in blocks]), t_ref, rtol=0, atol=1e-9)
    gaps = [g for b in blocks for g in b.gaps]
    assert [g[2] for g in gaps] == [g[2] for g in gaps_ref]
    np.testing.assert_allclose(np.array([g[:2] for g in gaps]).reshape(-1, 2),
                               np.array([g[:2] for g in gaps_ref]).reshape(-1, 2), rtol=0, atol=1e-9)
    assert vars(st.decoder.stats) == vars(st_ref.decoder.stats)
    tb, tb_ref = st.timebase, st_ref.timebase
    counters = ("lost_samples", "resets", "n_packets", "n_samples", "corrupt_packets", "out_of_order_packets",
                "dropped_samples")
    assert [getattr(tb, c) for c in counters] == [getattr(tb_ref, c) for c in counters]
    assert tb.fit.offset_s == pytest.approx(tb_ref.fit.offset_s, abs=1e-9)
    assert tb.fit.slope == pytest.approx(tb_ref.fit.slope, abs=1e-12)


@pytest.mark.parametrize("name", list(RATES))
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_equals_packet_by_packet(sims, name, seed, caplog):
    caplog.set_level(logging.ERROR)  # the reboot is logged as a warning
    rng = np.random.default_rng(seed)
    packets = damaged_stream(sims[RATES[name]], name, rng)
    ref = reference(packets, name)
    p = profiles.load(name)
    for sensor in ("sacrum", "thoracic"):
        mine = [q for q in packets if q.sensor == sensor]
        st = SensorStream(sensor, p, RATES[name])
        cuts = np.sort(rng.choice(np.arange(1, len(mine)), size=int(rng.integers(1, 30)), replace=False))
        blocks = []
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(mine)], strict=True):
            blk = st.feed_many([q.t_host for q in mine[a:b]], [q.payload for q in mine[a:b]])
            if blk is not None:
                blocks.append(blk)
        assert_same(ref[sensor], blocks, st)
    # the damage really is there: lost samples, rejected packets, a reboot for counter / clock firmware
    st_ref = ref["sacrum"][4]
    assert st_ref.lost_samples > 0 and st_ref.bad_packets > 0
    if name in WRAP_FIELDS:
        assert st_ref.timebase.resets >= 1


@pytest.mark.parametrize("name", ["hinge-ref", "witmotion-bwt901ble"])
def test_load_series_equals_packet_by_packet(tmp_path, sims, name, caplog):
    caplog.set_level(logging.ERROR)
    packets = damaged_stream(sims[RATES[name]], name, np.random.default_rng(5))
    p = profiles.load(name)
    info = SensorInfo(p.name, p.raw_text, rate_hz=RATES[name])
    path = tmp_path / "rec.jsonl"
    with Recorder(path, sensors={"sacrum": info, "thoracic": info}, app_version="test") as rec:
        for q in packets:
            rec.write_packet(RawPacket(round(q.t_host, 6), q.sensor, q.payload))
    rounded = [RawPacket(round(q.t_host, 6), q.sensor, q.payload) for q in packets]
    ref = reference(rounded, name)
    series = load_series(path)
    small_chunks = decode_packets(rounded, {s: SensorStream(s, p, RATES[name]) for s in ("sacrum", "thoracic")},
                                  chunk_packets=97)
    for sensor in ("sacrum", "thoracic"):
        t_ref, acc_ref = ref[sensor][0], ref[sensor][1]
        assert np.all(np.diff(t_ref) > 0)
        for got in (series[sensor], small_chunks[sensor]):
            np.testing.assert_allclose(got.t, t_ref, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(got.acc, acc_ref)
