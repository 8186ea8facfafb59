"""Where the live pipeline's CPU goes: the session's loop thread alone, an idle window, both together,
and per step (decode + timebase, tracker) in real time vs as fast as possible.

    QT_QPA_PLATFORM=offscreen python bench/live_cpu_split.py [--batch-s 0] [--profile witmotion-bwt901ble --rate-hz 100]

Two simulated sensors (default: 200 Hz, hinge-ref packets of 4 samples), a 3-rep deadlift set (~15 s).
CPU is process time (all threads) over wall time, the median of `--runs` runs; per-step figures are
`time.thread_time()` sums. `--batch-s 0` decodes and feeds the tracker after every packet (the session's
former behaviour) instead of in rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import hinge.analysis.tracker as tracker_mod
import hinge.sensing.stream as stream_mod
from hinge.sensing.profiles import load
from hinge.sensing.replay import simulated_source
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SENSORS, SimConfig, simulate_set
from hinge.session import Session

STEPS = {}


def _timed(cls, name: str) -> None:
    fn = getattr(cls, name)

    def wrapper(*a, **kw):
        t0 = time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            key = f"{cls.__name__}.{name}"
            STEPS[key] = STEPS.get(key, 0.0) + time.thread_time() - t0

    setattr(cls, name, wrapper)


def session(packets, profile, rate_hz, speed, batch_s):
    source = simulated_source(packets, {s: profile for s in SENSORS}, {s: rate_hz for s in SENSORS}, speed=speed)
    return Session(source, batch_s=batch_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-s", type=float, default=Session.__init__.__kwdefaults__["batch_s"],
                    help="Session batch_s (0: decode and feed the tracker after every packet)")
    ap.add_argument("--profile", default="hinge-ref", help="firmware profile of both simulated sensors")
    ap.add_argument("--rate-hz", type=float, default=200.0, help="sample rate of both sensors")
    ap.add_argument("--runs", type=int, default=3, help="runs per mode (this machine's CPU share varies run to run)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    profile = load(args.profile)
    sim = simulate_set(SimConfig(exercise="deadlift", reps=3, seed=1, rates_hz={s: args.rate_hz for s in SENSORS}))
    packets = simulated_packets(sim, {s: profile for s in SENSORS})
    print(f"{args.profile} @ {args.rate_hz:g} Hz, {len(packets) / packets[-1].t_host:.0f} packets/s in all, "
          f"batch_s {args.batch_s:g}")
    n = len(packets)

    from PySide6 import QtCore

    from hinge.window import LiveWindow, application

    app = application()
    for mode in ("loop thread alone", "idle window", "loop thread + window"):
        shares = []
        for _ in range(args.runs):
            s = session(packets, profile, args.rate_hz, 1.0, args.batch_s)
            c0, w0 = time.process_time(), time.monotonic()
            if mode == "loop thread alone":
                s.start()
                s.wait(120)
            else:
                win = LiveWindow(s, close_when_done=True)
                if mode == "idle window":
                    QtCore.QTimer.singleShot(10_000, win.close)
                else:
                    s.start()
                win.show()
                app.exec()
            s.close()
            wall = time.monotonic() - w0
            shares.append(100 * (time.process_time() - c0) / wall)
        print(f"{mode:22s} CPU {statistics.median(shares):5.1f} % of one core, median of {len(shares)} runs of "
              f"{wall:.1f} s (" + ", ".join(f"{x:.1f}" for x in shares) + ")")

    _timed(stream_mod.SensorStream, "feed")
    _timed(stream_mod.SensorStream, "feed_many")
    _timed(tracker_mod.Tracker, "feed")
    for label, speed in (("real time", 1.0), ("as fast as possible", None)):
        STEPS.clear()
        s = session(packets, profile, args.rate_hz, speed, args.batch_s)
        s.start()
        s.wait(120)
        s.close()
        print(f"{label:20s} " + " · ".join(f"{k} {v:.2f} s ({1e3 * v / n:.2f} ms/packet)" for k, v in STEPS.items()))


if __name__ == "__main__":
    main()
