"""Where the live pipeline's CPU goes: the session's loop thread alone, an idle window, both together,
and per step (decode + timebase, tracker) in real time vs as fast as possible.

    QT_QPA_PLATFORM=offscreen python bench/live_cpu_split.py [--batch-s 0]

Two simulated sensors at 200 Hz (hinge-ref packets, 4 samples each), a 3-rep deadlift set (~15 s).
CPU is process time (all threads) over wall time; per-step figures are `time.thread_time()` sums.
"""

from __future__ import annotations

import argparse
import os
import time

import analysis.tracker as tracker_mod
import sensing.stream as stream_mod
from hinge.runner import Session, SimulatedFeed
from sensing.profiles import load
from sensing.simsource import simulated_packets
from sensing.simulator import SENSORS, SimConfig, simulate_set

RATES = {s: 200.0 for s in SENSORS}
HREF = load("hinge-ref")
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


def session(packets, speed, batch_s):
    return Session(SimulatedFeed(packets, {s: HREF for s in SENSORS}, RATES, speed=speed), batch_s=batch_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-s", type=float, default=Session.__init__.__kwdefaults__["batch_s"],
                    help="Session batch_s (0: decode and feed the tracker after every packet)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sim = simulate_set(SimConfig(exercise="deadlift", reps=3, seed=1, rates_hz=RATES))
    packets = simulated_packets(sim, {s: HREF for s in SENSORS})
    n = len(packets)

    from PySide6 import QtCore

    from hinge.window import LiveWindow, application

    app = application()
    for mode in ("loop thread alone", "idle window", "loop thread + window"):
        s = session(packets, 1.0, args.batch_s)
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
        print(f"{mode:22s} CPU {100 * (time.process_time() - c0) / wall:5.1f} % of one core over {wall:.1f} s")

    _timed(stream_mod.SensorStream, "feed")
    _timed(stream_mod.SensorStream, "feed_many")
    _timed(tracker_mod.Tracker, "feed")
    for label, speed in (("real time", 1.0), ("as fast as possible", None)):
        STEPS.clear()
        s = session(packets, speed, args.batch_s)
        s.start()
        s.wait(120)
        s.close()
        print(f"{label:20s} " + " · ".join(f"{k} {v:.2f} s ({1e3 * v / n:.2f} ms/packet)" for k, v in STEPS.items()))


if __name__ == "__main__":
    main()
