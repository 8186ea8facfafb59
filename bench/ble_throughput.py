"""BLE throughput on the emulated radio, through the real bleak API, and the CPU cost of decoding.

    python bench/ble_throughput.py [--profiles hinge-ref witmotion-bwt901ble] [--seconds 10] [--rate 100]

For each profile: two emulated sensors stream `--seconds` of device time as fast as the event loop
allows; `sensing.ble.BleSource` (plain bleak, Bumble backend swapped in) receives them while the
consumer decodes every packet. Prints per sensor: notifications/s, decoded samples/s, packets lost
to queue overflow, and the stream's speed relative to real time. Then, offline on the captured
payloads: CPU time per packet of `decoder.feed` and of `Timebase.update` (process time, µs).

The emulated link has no radio timing (no connection interval, no air time), so these figures
bound the *host* side: how much headroom the app has over a real 2 × 100–400 Hz stream.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from sensing.ble import BleSource, SensorTarget
from sensing.emulated import EmulatedRadio, SensorSpec
from sensing.profiles import load
from sensing.timebase import Timebase

PLACEMENTS = ("sacrum", "thoracic")


async def stream(profile_name: str, seconds: float, rate_hz: float | None) -> dict:
    profile = load(profile_name)
    rate = float(rate_hz or profile.nominal_hz)
    if rate not in profile.supported_hz:
        rate = float(profile.nominal_hz)
    n_samples = int(seconds * rate)
    async with EmulatedRadio() as radio:
        sensors = [await radio.add_sensor(SensorSpec.from_profile(profile, name=f"{p}-emu")) for p in PLACEMENTS]
        targets = [SensorTarget(p, s.address, profile, rate) for p, s in zip(PLACEMENTS, sensors, strict=True)]
        async with BleSource(targets, silence_timeout_s=None, backend=radio.client_type(),
                             scanner_backend=radio.scanner_type()) as src:
            decoders = {p: profile.decoder(rate) for p in PLACEMENTS}
            payloads: dict[str, list[tuple[float, bytes]]] = {p: [] for p in PLACEMENTS}
            have = dict.fromkeys(PLACEMENTS, 0)
            t_first: dict[str, float] = {}
            t_done: dict[str, float] = {}
            counts: dict[str, tuple[int, int]] = {}  # (packets, samples) when n_samples were reached
            async for pkt in src:
                p = pkt.sensor
                t_first.setdefault(p, pkt.t_host)
                payloads[p].append((pkt.t_host, pkt.payload))
                have[p] += len(decoders[p].feed(pkt.payload))
                if have[p] >= n_samples and p not in t_done:
                    t_done[p] = pkt.t_host
                    counts[p] = (len(payloads[p]), have[p])
                if len(t_done) == len(PLACEMENTS):
                    break
            stats = src.stats
    return dict(profile=profile, rate=rate, n_samples=n_samples, payloads=payloads, t_first=t_first,
                t_done=t_done, counts=counts, stats=stats, decoders=decoders)


def cpu_per_packet(profile, rate: float, payloads: list[tuple[float, bytes]]) -> tuple[float, float]:
    """Process-time µs per packet for decode, and for timebase update."""
    dec = profile.decoder(rate)
    t0 = time.process_time()
    decoded = [(t, dec.feed(b)) for t, b in payloads]
    t_dec = (time.process_time() - t0) / len(payloads) * 1e6
    tb = Timebase(rate, profile.has_device_time)
    t0 = time.process_time()
    for t, s in decoded:
        tb.update(t, s)
    return t_dec, (time.process_time() - t0) / len(payloads) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+", default=["hinge-ref", "witmotion-bwt901ble", "nordic-thingy52"])
    ap.add_argument("--seconds", type=float, default=10.0, help="device seconds streamed per sensor")
    ap.add_argument("--rate", type=float, default=None, help="sample rate, Hz (default: profile nominal)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    print(f"{'profile':22s} {'sensor':9s} {'rate':>5s} {'notif/s':>9s} {'samples/s':>10s} {'x real':>7s} "
          f"{'lost':>5s} {'bad':>4s} {'decode µs/pkt':>14s} {'timebase µs/pkt':>16s}")
    for name in args.profiles:
        r = asyncio.run(stream(name, args.seconds, args.rate))
        profile, rate = r["profile"], r["rate"]
        for p in PLACEMENTS:
            pkts = r["payloads"][p]
            wall = r["t_done"][p] - r["t_first"][p]
            n_pkts, samples = r["counts"][p]
            t_dec, t_tb = cpu_per_packet(profile, rate, pkts)
            tb = f"{t_tb:16.1f}" if t_tb is not None else f"{'n/a':>16s}"
            print(f"{name:22s} {p:9s} {rate:5.0f} {n_pkts / wall:9.0f} {samples / wall:10.0f} "
                  f"{args.seconds / wall:7.1f} {r['stats'][p].overflow_lost:5d} "
                  f"{r['decoders'][p].stats.bad_packets:4d} {t_dec:14.1f} {tb}")


if __name__ == "__main__":
    main()
