"""Live pipeline figures: fault-to-cue latency, window frame rate, CPU share, memory over 60 minutes.

    python bench/live_latency.py                  # all parts (~2 min: three real-time sets + 60 min accelerated)
    python bench/live_latency.py --skip-emulated --minutes 10

Two simulated sensors at 200 Hz (hinge-ref packets, BLE-like arrival) go through `hinge.session.Session`
exactly as in `hinge demo --source sim`:

(a) latency: a deadlift set with the trunk 12° behind vertical at every top. For each trunk alert,
    from the arrival of the thoracic packet that carries the sample where the trunk crossed the limit
    to the moment the alert is in the session's event log (what the window pulls). Both on the
    monotonic clock. Also: how much of it was waiting for the sacrum's packet (frames need both).
(b) frame rate of the window under offscreen Qt while the set streams (timer refreshes and actual
    paints per second), and the most it could do (refresh + repaint in a tight loop).
(c) CPU share of the process (all threads) while streaming in real time: headless, with the window,
    and through the emulated BLE link (Bumble peripherals + bleak client, as `hinge demo` runs).
(d) resident memory while 60 simulated minutes stream as fast as possible (ring buffers: flat).

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hinge.analysis.tracker import Alert  # noqa: E402
from hinge.sensing.emulated_source import EmulatedSource  # noqa: E402
from hinge.sensing.profiles import load  # noqa: E402
from hinge.sensing.replay import simulated_source  # noqa: E402
from hinge.sensing.simsource import simulated_packets  # noqa: E402
from hinge.sensing.source import Tap  # noqa: E402
from hinge.sensing.stream import SensorStream  # noqa: E402
from hinge.sensing.types import SENSORS, SensorSeries  # noqa: E402
from hinge.session import Session  # noqa: E402
from hinge.sources import simulated_set  # noqa: E402

HREF = load("hinge-ref")
RATE_HZ = 200.0
RATES = {s: RATE_HZ for s in SENSORS}


def rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, not current


class StampedFeed(Tap):
    """A real-time simulated source that notes when (monotonic) each packet was released."""

    def __init__(self, packets, profiles, rates, *, speed) -> None:
        super().__init__(simulated_source(packets, profiles, rates, speed=speed), self._stamp)
        self.packets = packets
        self.released: list[float] = []

    def _stamp(self, _pkt) -> None:
        self.released.append(time.monotonic())


def sample_ends(packets) -> list[tuple[str, float]]:
    """(sensor, time of the packet's last sample) as the session's decoder + timebase see them."""
    streams = {s: SensorStream(s, HREF, RATE_HZ) for s in SENSORS}
    out = []
    for p in packets:
        block = streams[p.sensor].feed(p)
        out.append((p.sensor, float(block.t[-1]) if block is not None else -np.inf))
    return out


def latencies(session: Session, feed: StampedFeed) -> tuple[list[float], list[float]]:
    """Per trunk alert: (latency s, of which waiting for the sacrum's packet s)."""
    ends = sample_ends(feed.packets[: len(feed.released)])
    half = 0.5 / RATE_HZ  # a frame at t uses the samples up to t - T/2 (VQF's quaternion timing)
    lat, wait = [], []
    for item in session.events_since(0)[0]:
        ev = item.event
        if not (isinstance(ev, Alert) and ev.kind == "trunk_behind_vertical"):
            continue
        emitted = item.t_emitted + session._t0
        arrival = {}
        for sensor in SENSORS:
            k = next(i for i, (s, t_end) in enumerate(ends) if s == sensor and t_end >= ev.t - half - 1e-9)
            arrival[sensor] = feed.released[k]
        lat.append(emitted - arrival["thoracic"])
        wait.append(max(0.0, arrival["sacrum"] - arrival["thoracic"]))
    return lat, wait


def summary_ms(xs: list[float]) -> str:
    if not xs:
        return "no alerts"
    ms = np.array(xs) * 1000
    p95 = np.percentile(ms, 95)
    return f"median {np.median(ms):5.1f} ms · p95 {p95:5.1f} ms · max {ms.max():5.1f} ms (n={len(ms)})"


def stream_headless(sim) -> None:
    packets = simulated_packets(sim, {s: HREF for s in SENSORS})
    feed = StampedFeed(packets, {s: HREF for s in SENSORS}, RATES, speed=1.0)
    session = Session(feed, exercise="deadlift")
    c0, w0 = time.process_time(), time.monotonic()
    asyncio.run(session.run())
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    lat, wait = latencies(session, feed)
    print(f"(a) headless   fault→cue latency: {summary_ms(lat)}")
    print(f"               of which waiting for the other sensor's packet: {summary_ms(wait)}")
    print(f"(c) headless   CPU {100 * cpu / wall:5.1f} % of one core ({cpu:.1f} s CPU over {wall:.1f} s)")


def stream_window(sim) -> None:
    from PySide6 import QtCore

    from hinge.window import LiveWindow, application

    class PaintCounter(QtCore.QObject):
        """Counts the plot's paints once frames flow (before calibration there is nothing to draw)."""

        def __init__(self) -> None:
            super().__init__()
            self.paints = 0
            self.first: float | None = None

        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QtCore.QEvent.Type.Paint and len(session.ring):
                self.paints += 1
                self.first = self.first or time.monotonic()
            return False

    app = application()
    packets = simulated_packets(sim, {s: HREF for s in SENSORS})
    feed = StampedFeed(packets, {s: HREF for s in SENSORS}, RATES, speed=1.0)
    session = Session(feed, exercise="deadlift")
    win = LiveWindow(session, close_when_done=True)
    counter = PaintCounter()
    win.graphs.viewport().installEventFilter(counter)
    c0, w0 = time.process_time(), time.monotonic()
    session.start()
    win.show()
    app.exec()
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    lat, wait = latencies(session, feed)
    print(f"(a) window     fault→cue latency: {summary_ms(lat)}")
    flowing = w0 + wall - counter.first if counter.first else float("nan")
    print(f"(b) window     {win.refreshes / wall:5.1f} refreshes/s · {counter.paints / flowing:5.1f} plot paints/s "
          f"once frames flow (timer {1000 / win.timer.interval():.0f} Hz, offscreen Qt)")
    # the most it could do: refresh with new data + synchronous repaint of the plots, 10 s of frames on screen
    session2 = Session(simulated_source(packets, {s: HREF for s in SENSORS}, RATES, speed=None))
    for pkt in packets:  # fed, not run: a session that has ended shows the whole set, not the scrolling view
        session2.ingest(pkt)
    win2 = LiveWindow(session2, auto_refresh=False)
    win2.show()
    times = []
    for _ in range(60):
        t = time.perf_counter()
        win2.t_end = float("nan")  # as if new frames had come: curves re-set, groups moved
        win2.refresh()
        win2.graphs.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - t)
    per = statistics.median(times)
    print(f"(b) window     refresh + full repaint {1000 * per:.1f} ms median → up to {1 / per:.0f} fps")
    print(f"(c) window     CPU {100 * cpu / wall:5.1f} % of one core ({cpu:.1f} s CPU over {wall:.1f} s), "
          "streaming + analysis + window at 30 Hz")
    win2.close()


def stream_emulated(sim) -> None:
    session = Session(EmulatedSource(sim, HREF), exercise="deadlift")
    c0, w0 = time.process_time(), time.monotonic()
    asyncio.run(session.run())
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    print(f"(c) emulated   CPU {100 * cpu / wall:5.1f} % of one core ({cpu:.1f} s CPU over {wall:.1f} s): "
          f"Bumble peripherals + bleak client + analysis, {len(session.reps)} reps")


def long_packets(sim, minutes: float):
    """Packets of `sim` repeated back to back for `minutes`, with continuous counters and clocks."""
    span = {s: int(sim.index[s][-1]) + 1 for s in SENSORS}
    period = max(span.values()) / RATE_HZ
    k = 0
    while k * period < minutes * 60:
        shifted = dataclasses.replace(
            sim,
            series={s: SensorSeries(s, x.t + k * period, x.acc, x.gyr) for s, x in sim.series.items()},
            index={s: sim.index[s] + k * int(round(period * RATE_HZ)) for s in SENSORS},
        )
        yield from simulated_packets(shifted, {s: HREF for s in SENSORS})
        k += 1


class IterFeed:
    """As fast as possible from a packet iterator (no list: 60 minutes need not sit in memory); a
    `hinge.sensing.source.PacketSource`."""

    kind = "simulated"

    def __init__(self, packets) -> None:
        self.profiles = {s: HREF for s in SENSORS}
        self.rates_hz = RATES
        self.addresses = {s: f"simulated-{s}" for s in SENSORS}
        self.on_event = None
        self._it = iter(packets)
        self._i = 0
        self._closed = False
        self.last_t = 0.0

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True

    def __aiter__(self):
        return self

    async def __anext__(self):
        pkt = next(self._it, None)
        if pkt is None or self._closed:
            raise StopAsyncIteration
        self._i += 1
        if self._i % 256 == 0:
            await asyncio.sleep(0)
        self.last_t = pkt.t_host
        return pkt


def memory(sim, minutes: float) -> None:
    feed = IterFeed(long_packets(sim, minutes))
    session = Session(feed, exercise="deadlift")

    async def main() -> None:
        run = asyncio.ensure_future(session.run())
        next_mark = 0.0
        w0 = time.monotonic()
        while not run.done():
            await asyncio.sleep(0.2)
            if feed.last_t >= next_mark:
                print(f"(d) {feed.last_t / 60:5.1f} simulated min · RSS {rss_mib():6.1f} MiB · "
                      f"{len(session.reps):4d} reps · ring {len(session.ring)} frames · "
                      f"{(time.monotonic() - w0):5.1f} s wall")
                next_mark += minutes * 60 / 12
        await run
        print(f"(d) {feed.last_t / 60:5.1f} simulated min · RSS {rss_mib():6.1f} MiB · {len(session.reps):4d} reps "
              f"(done in {time.monotonic() - w0:.0f} s wall, {feed.last_t / (time.monotonic() - w0):.0f}× real time)")

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=6, help="reps of the real-time sets")
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated minutes for the memory run")
    ap.add_argument("--skip-window", action="store_true")
    ap.add_argument("--skip-emulated", action="store_true")
    args = ap.parse_args()
    sim = simulated_set("deadlift", reps=args.reps, seed=1, rate_hz=RATE_HZ, faults={"trunk_behind_vertical": 12.0})
    dur = max(float(s.t[-1]) for s in sim.series.values())
    print(f"two simulated sensors @ {RATE_HZ:.0f} Hz, hinge-ref packets (4 samples), {args.reps} deadlifts "
          f"with the trunk 12° behind vertical at the top, {dur:.1f} s per set; {os.cpu_count()} CPUs")
    stream_headless(sim)
    if not args.skip_window:
        stream_window(sim)
    if not args.skip_emulated:
        stream_emulated(sim)
    memory(simulated_set("deadlift", reps=10, seed=2, rate_hz=RATE_HZ), args.minutes)


if __name__ == "__main__":
    main()
