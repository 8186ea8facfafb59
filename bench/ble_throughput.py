"""BLE throughput on the emulated radio, through the real bleak API, and the CPU cost of decoding.

    python bench/ble_throughput.py [--profiles hinge-ref witmotion-bwt901ble] [--seconds 10] [--rate 100]
    python bench/ble_throughput.py --bluez [--speed 1 4 16]   # also through bleak's BlueZ backend

For each profile: two emulated sensors stream `--seconds` of device time as fast as the event loop
allows; `hinge.sensing.ble.BleSource` (plain bleak, Bumble backend swapped in) receives them while the
consumer decodes every packet. Prints per sensor: notifications/s, decoded samples/s, packets lost
to queue overflow, and the stream's speed relative to real time. Then, offline on the captured
payloads: CPU time per packet of `decoder.feed` and of `Timebase.update` (process time, µs).

The emulated link has no radio timing (no connection interval, no air time), so these figures
bound the *host* side: how much headroom the app has over a real 2 × 100–400 Hz stream.

`--bluez`: the same two sensors as `hinge.sensing.bluez_peripheral` processes on BlueZoo (BlueZ's D-Bus
API, emulated; `hinge.sensing.bluez_sandbox` starts a private bus), received through bleak's real BlueZ
backend (adapter hci0). Those sensors pace themselves (real time × `--speed`, each value), so
notifications/s there is what the D-Bus path sustained at that pace; "lost" counts missing samples
(sample counter) for profiles that have one, overflow losses otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

from hinge.sensing.ble import BleSource, SensorTarget
from hinge.sensing.emulated import EmulatedRadio, SensorSpec
from hinge.sensing.profiles import load
from hinge.sensing.timebase import Timebase

PLACEMENTS = ("sacrum", "thoracic")


def pick_rate(profile, rate_hz: float | None) -> float:
    rate = float(rate_hz or profile.nominal_hz)
    return rate if rate in profile.supported_hz else float(profile.nominal_hz)


async def receive(profile, rate: float, n_samples: int, targets: list[SensorTarget], **ble_kwargs) -> dict:
    """Read through BleSource until each sensor delivered n_samples decoded samples."""
    async with BleSource(targets, silence_timeout_s=None, **ble_kwargs) as src:
        decoders = {p: profile.decoder(rate) for p in PLACEMENTS}
        payloads: dict[str, list[tuple[float, bytes]]] = {p: [] for p in PLACEMENTS}
        seqs: dict[str, list] = {p: [] for p in PLACEMENTS}
        have = dict.fromkeys(PLACEMENTS, 0)
        t_first: dict[str, float] = {}
        t_done: dict[str, float] = {}
        counts: dict[str, tuple[int, int]] = {}  # (packets, samples) when n_samples were reached
        async for pkt in src:
            p = pkt.sensor
            t_first.setdefault(p, pkt.t_host)
            payloads[p].append((pkt.t_host, pkt.payload))
            samples = decoders[p].feed(pkt.payload)
            have[p] += len(samples)
            if samples.seq is not None and p not in t_done:
                seqs[p].extend(samples.seq.tolist())
            if have[p] >= n_samples and p not in t_done:
                t_done[p] = pkt.t_host
                counts[p] = (len(payloads[p]), have[p])
            if len(t_done) == len(PLACEMENTS):
                break
        stats = src.stats
    missing = {p: (seqs[p][-1] - seqs[p][0] + 1 - len(seqs[p])) if seqs[p] else None for p in PLACEMENTS}
    return dict(profile=profile, rate=rate, n_samples=n_samples, payloads=payloads, t_first=t_first,
                t_done=t_done, counts=counts, stats=stats, decoders=decoders, missing=missing)


async def stream(profile_name: str, seconds: float, rate_hz: float | None) -> dict:
    profile = load(profile_name)
    rate = pick_rate(profile, rate_hz)
    async with EmulatedRadio() as radio:
        sensors = [await radio.add_sensor(SensorSpec.from_profile(profile, name=f"{p}-emu")) for p in PLACEMENTS]
        targets = [SensorTarget(p, s.address, profile, rate) for p, s in zip(PLACEMENTS, sensors, strict=True)]
        return await receive(profile, rate, int(seconds * rate), targets, backend=radio.client_type(),
                             scanner_backend=radio.scanner_type())


def stream_bluez(sandbox, profile_name: str, seconds: float, rate_hz: float | None, speed: float) -> dict:
    from hinge.sensing.bluez_sandbox import CENTRAL

    profile = load(profile_name)
    rate = pick_rate(profile, rate_hz)
    sensors = sandbox.add_sensors([(profile_name, None)] * len(PLACEMENTS), extra=["--speed", f"{speed:g}"])
    try:
        targets = [SensorTarget(p, s.address, profile, rate) for p, s in zip(PLACEMENTS, sensors, strict=True)]
        guard = 60.0 + 2 * seconds  # a stalled stream is reported, not waited for
        return asyncio.run(asyncio.wait_for(receive(profile, rate, int(seconds * rate * speed), targets,
                                                    adapter=CENTRAL, scan_timeout_s=10.0, start_timeout_s=5.0),
                                            guard))
    finally:
        for s in sensors:
            sandbox.stop_sensor(s)


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


def report(name: str, backend: str, r: dict, device_s: float) -> None:
    profile, rate = r["profile"], r["rate"]
    for p in PLACEMENTS:
        pkts = r["payloads"][p]
        wall = r["t_done"][p] - r["t_first"][p]
        n_pkts, samples = r["counts"][p]
        t_dec, t_tb = cpu_per_packet(profile, rate, pkts)
        tb = f"{t_tb:16.1f}" if t_tb is not None else f"{'n/a':>16s}"
        lost = r["missing"][p] if r["missing"][p] is not None else r["stats"][p].overflow_lost
        print(f"{name:22s} {backend:10s} {p:9s} {rate:5.0f} {n_pkts / wall:9.0f} {samples / wall:10.0f} "
              f"{device_s / wall:7.1f} {lost:5d} {r['decoders'][p].stats.bad_packets:4d} {t_dec:14.1f} {tb}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+", default=["hinge-ref", "witmotion-bwt901ble", "nordic-thingy52"])
    ap.add_argument("--seconds", type=float, default=10.0, help="device seconds streamed per sensor")
    ap.add_argument("--rate", type=float, default=None, help="sample rate, Hz (default: profile nominal)")
    ap.add_argument("--bluez", action="store_true", help="also through bleak's BlueZ backend (BlueZoo sandbox)")
    ap.add_argument("--speed", type=float, nargs="+", default=[1.0, 4.0],
                    help="--bluez: the sensors' pace, device seconds per second (default 1 4)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the sandbox's processes on the way out

    print(f"{'profile':22s} {'backend':10s} {'sensor':9s} {'rate':>5s} {'notif/s':>9s} {'samples/s':>10s} "
          f"{'x real':>7s} {'lost':>5s} {'bad':>4s} {'decode µs/pkt':>14s} {'timebase µs/pkt':>16s}")
    sandbox = None
    if args.bluez:
        from hinge.sensing.bluez_sandbox import BluezSandbox

        sandbox = BluezSandbox().__enter__()
    try:
        for name in args.profiles:
            report(name, "bumble", asyncio.run(stream(name, args.seconds, args.rate)), args.seconds)
            for speed in args.speed if sandbox is not None else []:
                try:
                    r = stream_bluez(sandbox, name, args.seconds, args.rate, speed)
                except asyncio.TimeoutError:
                    print(f"{name:22s} bluez x{speed:g}: stalled (no full run within the guard time)", flush=True)
                    continue
                report(name, f"bluez x{speed:g}", r, args.seconds * speed)
    finally:
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    main()
