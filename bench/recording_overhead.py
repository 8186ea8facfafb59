"""Recording cost: bytes/s per sensor, CPU time per packet, 60-minute file size, read speed, pacing.

    python bench/recording_overhead.py            # write/read figures (~30 s)
    python bench/recording_overhead.py --pacing   # + replay a 30 s recording at x1 (30 s) and flat out

Payloads are synthetic but shaped like real ones (smooth int16 / float32 IMU values, so gzip sees
realistic redundancy): a WitMotion-style 20-byte packet with one sample, and a Movesense-style
102-byte packet with four samples (6-byte header + 4 x acc + 4 x gyro float32). Writing uses an
injected clock that follows the packet times, so flushes (every 0.5 s) and fsyncs (every 5 s) happen as
often as in a live session. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hinge.sensing.profiles import G0  # noqa: E402
from hinge.sensing.recording import Recorder, read_recording  # noqa: E402
from hinge.sensing.replay import MonotonicClock, ReplaySource  # noqa: E402
from hinge.sensing.types import RawPacket  # noqa: E402

SENSORS = {name: {"profile": "bench", "profile_toml": "# synthetic\n" * 40} for name in ("sacrum", "thoracic")}


def imu_signal(n: int, fs_hz: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) acc m/s² and (n, 3) gyr rad/s: slow hinge-like motion plus sensor noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs_hz
    phase = 2 * np.pi * t / 4.0
    acc = np.stack([G0 * np.sin(0.6 * np.sin(phase)), 0.3 * np.sin(3 * phase), G0 * np.cos(0.6 * np.sin(phase))], 1)
    gyr = np.stack([0.9 * np.cos(phase), 0.05 * np.sin(2 * phase), 0.02 * np.cos(5 * phase)], 1)
    return acc + rng.normal(0, 0.03, acc.shape), gyr + rng.normal(0, 0.005, gyr.shape)


def payloads(layout: str, n_samples: int, fs_hz: float, seed: int) -> list[bytes]:
    """Notification payloads for ``n_samples`` samples in the given layout ("wit20" or "movesense4")."""
    acc, gyr = imu_signal(n_samples, fs_hz, seed)
    if layout == "wit20":  # 0x55 0x61, acc/gyr/angle as int16 (16 g, 2000 dps, 180 deg full scale)
        acc_i = np.clip(acc / (16 * G0) * 32768, -32768, 32767).astype("<i2")
        gyr_i = np.clip(np.degrees(gyr) / 2000 * 32768, -32768, 32767).astype("<i2")
        ang_i = np.clip(np.cumsum(np.degrees(gyr), 0) / fs_hz / 180 * 32768, -32768, 32767).astype("<i2")
        body = np.concatenate([acc_i, gyr_i, ang_i], 1)
        return [b"\x55\x61" + row.tobytes() for row in body]
    if layout == "movesense4":  # 0x02, ref, u32 ms of first sample, 4 acc xyz f32, 4 gyro xyz f32 (dps)
        out = []
        for k in range(0, n_samples - 3, 4):
            ts = int(k / fs_hz * 1000) & 0xFFFFFFFF
            out.append(
                b"\x02\x63"
                + ts.to_bytes(4, "little")
                + acc[k : k + 4].astype("<f4").tobytes()
                + np.degrees(gyr[k : k + 4]).astype("<f4").tobytes()
            )
        return out
    raise ValueError(layout)


def session(duration_s: float, rate_hz: float, layout: str) -> list[RawPacket]:
    """Two-sensor packet stream in arrival order, with 2 ms of arrival jitter."""
    per = 1 if layout == "wit20" else 4
    n = int(duration_s * rate_hz)
    rng = np.random.default_rng(1)
    streams = []
    for i, sensor in enumerate(("sacrum", "thoracic")):
        pl = payloads(layout, n, rate_hz, seed=i)
        t = (np.arange(len(pl)) * per + per - 1) / rate_hz + 0.5 + i * 0.0013 + rng.uniform(0, 0.002, len(pl))
        streams += [RawPacket(round(float(tt), 6), sensor, p) for tt, p in zip(t, pl, strict=True)]
    streams.sort(key=lambda p: p.t_host)
    return streams


class FollowClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def write(path: Path, pkts: list[RawPacket]) -> float:
    """Write a recording; return CPU seconds spent (process time, includes flushes/fsyncs/close)."""
    clock = FollowClock()
    c0 = time.process_time()
    with Recorder(path, sensors=SENSORS, clock=clock, app_version="bench") as rec:
        for p in pkts:
            clock.t = p.t_host
            rec.write_packet(p)
    return time.process_time() - c0


def bench_writing(tmp: Path, duration_s: float) -> None:
    print(f"Writing {duration_s:.0f} s of two-sensor data (CPU time includes flush every 0.5 s, fsync every 5 s)")
    print(
        f"{'rate':>6} {'packet':>22} {'format':>9} {'bytes/s/sensor':>15} {'CPU µs/packet':>14} {'CPU % at rate':>14}"
    )
    for rate in (100, 200):
        for layout, label in (("wit20", "20 B, 1 sample"), ("movesense4", "102 B, 4 samples")):
            pkts = session(duration_s, rate, layout)
            for ext in ("jsonl", "jsonl.gz"):
                path = tmp / f"w{rate}{layout}.{ext}"
                cpu = min(write(path, pkts) for _ in range(2) if not path.unlink(missing_ok=True))
                size = path.stat().st_size
                span = pkts[-1].t_host - pkts[0].t_host
                per_pkt_us = cpu / len(pkts) * 1e6
                load = cpu / span * 100
                print(f"{rate:>4}Hz {label:>22} {ext:>9} {size / span / 2:>15,.0f} {per_pkt_us:>14.2f} {load:>13.2f}%")
                path.unlink()


def bench_hour(tmp: Path) -> None:
    print("\n60-minute session, two sensors at 200 Hz (written in full, then read back)")
    for layout, label in (("wit20", "20 B, 1 sample"), ("movesense4", "102 B, 4 samples")):
        pkts = session(3600.0, 200, layout)
        for ext in ("jsonl", "jsonl.gz"):
            path = tmp / f"hour.{ext}"
            path.unlink(missing_ok=True)
            w0 = time.perf_counter()
            cpu = write(path, pkts)
            wall_w = time.perf_counter() - w0
            r0 = time.perf_counter()
            rec = read_recording(path)
            n = sum(1 for _ in rec)
            wall_r = time.perf_counter() - r0
            assert n == len(pkts)
            print(
                f"  {label:>16} {ext:>9}: {path.stat().st_size / 2**20:8.1f} MiB, {len(pkts):,} packets; "
                f"write {wall_w:5.1f} s ({cpu:5.1f} s CPU), read {wall_r:5.1f} s ({n / wall_r:,.0f} packets/s)"
            )
            path.unlink()


async def replay_wall(path: Path, speed: float | None) -> tuple[float, list[float]]:
    """Wall seconds to replay the whole file, and each packet's lateness vs its schedule (s)."""
    clock = MonotonicClock()
    src = ReplaySource(path, speed=speed, clock=clock)
    late = []
    start = None
    async for pkt in src:
        now = clock.now()
        if start is None:
            start = now - pkt.t_host / (speed or np.inf)
        if speed:
            late.append(now - (start + pkt.t_host / speed))
    t0 = start if start is not None else clock.now()
    return clock.now() - t0, late


def bench_pacing(tmp: Path) -> None:
    path = tmp / "pace.jsonl"
    pkts = session(30.0, 200, "wit20")
    pkts = [RawPacket(round(p.t_host - 0.5, 6), p.sensor, p.payload) for p in pkts]  # first packet at ~0 s
    write(path, pkts)
    span = pkts[-1].t_host
    print(f"\nPacing: {len(pkts):,} packets spanning {span:.2f} s (two sensors, 200 Hz)")
    w0 = time.perf_counter()
    wall, _ = asyncio.run(replay_wall(path, None))
    print(f"  as fast as possible: {time.perf_counter() - w0:.3f} s wall (target < 1 s)")
    w0 = time.perf_counter()
    wall, late = asyncio.run(replay_wall(path, 1.0))
    total = time.perf_counter() - w0
    late_ms = np.array(late) * 1e3
    print(
        f"  x1: {total:.3f} s wall for {span:.3f} s of recording (target 30 ± 0.5 s); lateness per packet "
        f"median {statistics.median(late_ms):.2f} ms, p99 {np.percentile(late_ms, 99):.2f} ms, "
        f"max {late_ms.max():.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pacing", action="store_true", help="also run the 30 s real-time replay")
    parser.add_argument("--seconds", type=float, default=120.0, help="session length for the write table")
    parser.add_argument("--no-hour", action="store_true", help="skip the 60-minute file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("HINGE_BENCH_TMP")) as d:
        tmp = Path(d)
        bench_writing(tmp, args.seconds)
        if not args.no_hour:
            bench_hour(tmp)
        if args.pacing:
            bench_pacing(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
