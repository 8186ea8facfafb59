"""Shared test setup and helpers: no display (Qt offscreen), a temporary user data folder, simulated sets
cached per process, a virtual clock, and the recordings the runner and window tests share."""

from __future__ import annotations

import asyncio
import atexit
import heapq
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# commands store sets in the history database in the user's data folder: never the real one in tests
_DATA_HOME = tempfile.mkdtemp(prefix="hinge-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
atexit.register(shutil.rmtree, _DATA_HOME, ignore_errors=True)  # plain processes importing the tests
# nor the user's settings file (hinge/userconfig.py): every test starts from an empty settings folder
_CONFIG_DIR = tempfile.mkdtemp(prefix="hinge-test-config-")
os.environ["HINGE_CONFIG_DIR"] = _CONFIG_DIR
atexit.register(shutil.rmtree, _CONFIG_DIR, ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hinge.analysis.tracker import Tracker  # noqa: E402
from hinge.sensing.profiles import load  # noqa: E402
from hinge.sensing.recording import Recorder, SensorInfo, read_recording  # noqa: E402
from hinge.sensing.simsource import simulated_packets  # noqa: E402
from hinge.sensing.simulator import SimConfig, simulate_set  # noqa: E402
from hinge.sensing.stream import decode_packets, streams_from_header  # noqa: E402

_CACHE: dict[str, object] = {}


def shared_data(sub: str, env: str) -> Path | None:
    """The team's shared data folder `sub` (e.g. "broad"): $env if set, else beside the checkout
    (../shared/data/sub), else /work/shared/data/sub; None if none exists."""
    for p in (
        Path(os.environ[env]) if os.environ.get(env) else None,
        Path(__file__).resolve().parents[2] / "shared" / "data" / sub,
        Path("/work/shared/data") / sub,
    ):
        if p is not None and p.is_dir():
            return p
    return None
TEST_NOW = "2030-01-01T00:00:00Z"
"""The clock of the commands that store sets (history's analysed_at): injected, never the wall clock."""


@pytest.fixture(autouse=True)
def _history_clock(monkeypatch):
    import hinge.history

    monkeypatch.setattr(hinge.history, "utc_now", lambda: TEST_NOW)


def pytest_unconfigure(config) -> None:
    """pytest-xdist workers may end without running atexit handlers."""
    shutil.rmtree(_DATA_HOME, ignore_errors=True)
    shutil.rmtree(_CONFIG_DIR, ignore_errors=True)


def simulated(cfg: SimConfig):
    """simulate_set with a per-process cache keyed on the config's repr (configs may hold dicts)."""
    key = repr(cfg)
    if key not in _CACHE:
        _CACHE[key] = simulate_set(cfg)
    return _CACHE[key]


T0 = 1000.0  # FakeClock's default reading


class FakeClock:
    """Virtual time: ``sleep(dt)`` waits until the test moves time past its deadline with `run_until`;
    with ``autojump`` a sleep instead moves time forward by ``dt`` at once (one sleeper only)."""

    def __init__(self, t: float = T0, autojump: bool = False) -> None:
        self.t = t
        self.autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, dt: float) -> None:
        if self.autojump:
            self.t += max(dt, 0.0)
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(dt, 0.0), self._seq, fut))
        self._seq += 1
        await fut

    @staticmethod
    async def settle() -> None:
        for _ in range(30):  # let every ready task run until it waits again
            await asyncio.sleep(0)

    async def run_until(self, t_end: float) -> None:
        """Advance time to ``t_end``, waking each sleeper at its deadline, in order."""
        await self.settle()
        while True:
            while self._sleepers and self._sleepers[0][2].done():  # cancelled sleeps
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > t_end:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            self.t = max(self.t, deadline)
            fut.set_result(None)
            await self.settle()
        self.t = max(self.t, t_end)
        await self.settle()


HREF = load("hinge-ref")
RATES = {"sacrum": 100.0, "thoracic": 100.0}
FAULTY = SimConfig(exercise="deadlift", reps=3, seed=6, faults={"trunk_behind_vertical": 14.0}, rates_hz=RATES)


def as_written(packets) -> list:
    """Packets as a recording stores them (time to the µs)."""
    return [(round(p.t_host, 6), p.sensor, p.payload) for p in packets]


def write_recording(path, sim) -> list:
    """The set's packets (hinge-ref) written as a recording; returns the packets."""
    packets = simulated_packets(sim, {s: HREF for s in sim.series})
    info = {s: SensorInfo(HREF.name, HREF.raw_text, f"AA:00:00:00:00:0{k}", rate_hz=sim.rates_hz[s])
            for k, s in enumerate(sim.series)}
    with Recorder(path, sensors=info, exercise="deadlift", label="test") as rec:
        rec.write_event(0.0, "battery", "sacrum", 64)
        for p in packets:
            rec.write_packet(p)
    return packets


def direct_tracker(path):
    """Frames and events of a tracker fed the whole decoded recording at once (reference)."""
    rec = read_recording(path)
    streams = streams_from_header(rec.header)
    series = decode_packets(rec.packets(), streams)
    trk = Tracker({s: st.rate_hz for s, st in streams.items()}, exercise="deadlift")
    frames, events = [], []
    for s, ser in series.items():
        out = trk.feed(s, ser.t, ser.acc, ser.gyr)
        frames.append(out.frames)
        events += out.events
    events += trk.finish().events
    return np.vstack(frames), events
