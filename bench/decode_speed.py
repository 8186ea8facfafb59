"""Decode + timebase speed: packet by packet vs batch, and `load_series` on long two-sensor recordings.

    python bench/decode_speed.py            # per-profile rates, then 10-min recordings (~1-2 min)
    python bench/decode_speed.py --full     # also write and load real 60-min recordings (several minutes)

Packets come from the simulator (`simulated_packets`). "packet by packet" is `SensorStream.feed` per
packet (what a live session does); "batch" is `SensorStream.feed_many` over all packets of a sensor
(what `load_series` does). For recordings the time is split into reading the file
(`read_recording(...).packets()`, the recorder's reader) and decoding (`decode_packets`). Without --full
the 60-minute figures are the 10-minute ones times six (every stage is linear in the packet count).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hinge.sensing import profiles  # noqa: E402
from hinge.sensing.recording import Recorder, SensorInfo, read_recording  # noqa: E402
from hinge.sensing.simsource import simulated_packets  # noqa: E402
from hinge.sensing.simulator import SimConfig, simulate_set  # noqa: E402
from hinge.sensing.stream import SensorStream, decode_packets, load_series, streams_from_header  # noqa: E402

RATES = {"hinge-ref": 200.0, "movella-dot": 60.0, "movesense": 208.0, "nordic-thingy52": 200.0,
         "witmotion-bwt901ble": 100.0}
SENSORS = ("sacrum", "thoracic")


def simulate(rate_hz: float, minutes: float, seed: int = 0):
    reps = max(2, int(minutes * 60 / 3.6))  # a deadlift rep with its pause lasts ~3.6 s
    return simulate_set(SimConfig(reps=reps, seed=seed, rates_hz={s: rate_hz for s in SENSORS}))


def profile_rates(minutes: float) -> None:
    print(f"decode + timebase, one sensor, {minutes:g} simulated minutes per profile")
    print(f"{'profile':22s} {'Hz':>5s} {'spp':>3s} {'packets':>8s} | {'per packet':>22s} | {'batch':>24s} | speed-up")
    sims: dict[float, object] = {}
    for name, rate in RATES.items():
        p = profiles.load(name)
        sim = sims.setdefault(rate, simulate(rate, minutes))
        pk = [q for q in simulated_packets(sim, {s: p for s in SENSORS}) if q.sensor == "sacrum"]
        n_samples = sum(len(b.t) for b in [SensorStream("sacrum", p, rate).feed_many([q.t_host for q in pk],
                                                                                    [q.payload for q in pk])])
        st = SensorStream("sacrum", p, rate)
        t0 = time.perf_counter()
        for q in pk:
            st.feed(q)
        one = time.perf_counter() - t0
        st = SensorStream("sacrum", p, rate)
        times, payloads = [q.t_host for q in pk], [q.payload for q in pk]
        t0 = time.perf_counter()
        st.feed_many(times, payloads)
        batch = time.perf_counter() - t0
        print(f"{name:22s} {rate:5.0f} {p.samples_per_packet:3d} {len(pk):8d} | "
              f"{len(pk) / one:8.0f} pkt/s {n_samples / one:7.0f} S/s | "
              f"{len(pk) / batch:9.0f} pkt/s {n_samples / batch:8.0f} S/s | {one / batch:6.0f}x")


def write_recording(path: Path, name: str, rate_hz: float, minutes: float) -> int:
    p = profiles.load(name)
    packets = simulated_packets(simulate(rate_hz, minutes, seed=1), {s: p for s in SENSORS})
    info = SensorInfo(p.name, p.raw_text, name="simulated", rate_hz=rate_hz)
    with Recorder(path, sensors={s: info for s in SENSORS}, app_version="bench") as rec:
        for q in packets:
            rec.write_packet(q)
    return len(packets)


def recording_times(path: Path) -> tuple[float, float, float, int]:
    """(read s, decode s, load_series s, packets)."""
    t0 = time.perf_counter()
    rec = read_recording(path)
    packets = list(rec.packets())
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    decode_packets(packets, streams_from_header(rec.header, source=str(path)))
    decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_series(path)
    total = time.perf_counter() - t0
    return read, decode, total, len(packets)


def recordings(full: bool) -> None:
    print("\nload_series on two-sensor recordings (read = recording reader, decode = decode_packets)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, rate in (("hinge-ref", 200.0), ("nordic-thingy52", 200.0)):
            for minutes in (10, 60) if full else (10,):
                path = Path(tmp) / f"{name}-{minutes}.jsonl"
                write_recording(path, name, rate, minutes)
                read, decode, total, n = recording_times(path)
                mb = path.stat().st_size / 2**20
                print(f"{name:16s} {rate:.0f} Hz {minutes:3d} min: {n:8d} packets, {mb:6.0f} MiB | read {read:6.2f} s "
                      f"({read / n * 1e6:4.1f} us/line) decode {decode:6.2f} s ({decode / n * 1e6:4.2f} us/pkt) | "
                      f"load_series {total:6.2f} s")
                if not full:
                    print(f"{'':16s} {'':6s} 60 min (x6): {6 * n:8d} packets          | read {6 * read:6.2f} s "
                          f"{'':17s}decode {6 * decode:6.2f} s {'':16s}| load_series {6 * total:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also write and load real 60-minute recordings")
    ap.add_argument("--minutes", type=float, default=2.0, help="simulated minutes for the per-profile rates")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    profile_rates(args.minutes)
    recordings(args.full)


if __name__ == "__main__":
    main()
