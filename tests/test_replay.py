"""Replay source: exact pacing schedule on a fake clock (no real sleeps), pause, seek, speed, events."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from hinge.sensing.recording import Event, Recorder, read_recording
from hinge.sensing.replay import ReplaySource
from hinge.sensing.types import RawPacket
from tests.conftest import T0, FakeClock

SENSORS = {"sacrum": {"profile": "p", "profile_toml": "x = 1"}, "thoracic": {"profile": "p", "profile_toml": "y = 2"}}


def packet_times(n: int, seed: int = 0) -> np.ndarray:
    """Irregular µs-quantised arrival times starting at 0.3 s (both sensors interleaved)."""
    rng = np.random.default_rng(seed)
    return np.round(0.3 + np.cumsum(rng.uniform(0.001, 0.02, n)), 6)


def make_recording(path: Path, n: int = 300, seed: int = 0, events: dict[int, tuple] | None = None):
    t = packet_times(n, seed)
    pkts = [RawPacket(float(t[k]), ("sacrum", "thoracic")[k % 2], k.to_bytes(4, "little")) for k in range(n)]
    with Recorder(path, sensors=SENSORS, app_version="t") as rec:
        for k, p in enumerate(pkts):
            for ev in (events or {}).get(k, ()):
                rec.write_event(*ev)
            rec.write_packet(p)
    return pkts


class Consumer:
    """Runs ``async for`` over a source in a task and logs (clock time, packet)."""

    def __init__(self, src: ReplaySource, clock: FakeClock) -> None:
        self.got: list[tuple[float, RawPacket]] = []
        self.task = asyncio.create_task(self._run(src, clock))

    async def _run(self, src: ReplaySource, clock: FakeClock) -> None:
        async for pkt in src:
            self.got.append((clock.now(), pkt))


@pytest.fixture
def rec_path(tmp_path: Path) -> Path:
    return tmp_path / "r.jsonl"


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5, 7.3])
async def test_packet_k_is_released_at_t_k_over_speed(rec_path: Path, speed: float) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock()
    c = Consumer(ReplaySource(rec_path, speed=speed, clock=clock), clock)
    await clock.run_until(T0 + pkts[-1].t_host / speed + 1)
    assert c.task.done()
    assert [p for _, p in c.got] == pkts
    emitted = np.array([t for t, _ in c.got]) - T0
    expected = np.array([p.t_host for p in pkts]) / speed
    np.testing.assert_allclose(emitted, expected, rtol=0, atol=1e-9)


async def test_nothing_is_released_early(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock()
    c = Consumer(ReplaySource(rec_path, speed=2.0, clock=clock), clock)
    for probe in (0.0, 0.1, 0.5, 1.0, 1.7):
        await clock.run_until(T0 + probe)
        assert len(c.got) == sum(p.t_host / 2.0 <= probe + 1e-12 for p in pkts)
    c.task.cancel()


@pytest.mark.parametrize("speed", [None, math.inf])
async def test_as_fast_as_possible_never_sleeps(rec_path: Path, speed) -> None:
    pkts = make_recording(rec_path, n=1000)
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=speed, clock=clock)
    got = [p async for p in src]
    assert got == pkts == list(read_recording(rec_path).packets())
    assert clock.t == T0 and not clock._sleepers


async def test_pause_stops_time_and_resume_continues(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    t = np.array([p.t_host for p in pkts])
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=1.0, clock=clock)
    c = Consumer(src, clock)
    await clock.run_until(T0 + 1.0)
    n1 = len(c.got)
    assert n1 == np.sum(t <= 1.0)
    src.pause()
    assert src.paused and src.position_s == pytest.approx(1.0)
    await clock.run_until(T0 + 11.0)  # ten seconds paused: nothing comes out
    assert len(c.got) == n1
    src.resume()
    await clock.run_until(T0 + 100.0)
    assert [p for _, p in c.got] == pkts
    emitted = np.array([tt for tt, _ in c.got[n1:]]) - T0
    np.testing.assert_allclose(emitted, 11.0 + (t[n1:] - 1.0), atol=1e-9)


async def test_pause_before_start_and_in_fast_mode(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=None, clock=clock)
    src.pause()
    c = Consumer(src, clock)
    await clock.run_until(T0 + 5)
    assert c.got == []
    src.resume()
    await clock.run_until(T0 + 5)
    assert [p for _, p in c.got] == pkts and c.task.done()


async def test_seek_forward_and_backward_while_playing(rec_path: Path) -> None:
    pkts = make_recording(rec_path, n=600)
    t = np.array([p.t_host for p in pkts])
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=1.0, clock=clock, checkpoint_interval_s=0.2)
    c = Consumer(src, clock)
    await clock.run_until(T0 + 2.0)
    n1 = len(c.got)
    src.seek(4.0)  # forward, during a pending sleep
    await clock.run_until(T0 + 3.0)
    seg2 = c.got[n1:]
    assert [p for _, p in seg2] == [p for p in pkts if 4.0 <= p.t_host <= 5.0]
    np.testing.assert_allclose([tt - T0 for tt, _ in seg2], [2.0 + p.t_host - 4.0 for _, p in seg2], atol=1e-9)
    n2 = len(c.got)
    src.seek(1.234)  # backward: packets come again, from checkpoints
    await clock.run_until(T0 + 1000.0)
    seg3 = c.got[n2:]
    assert [p for _, p in seg3] == [p for p in pkts if p.t_host >= 1.234]
    np.testing.assert_allclose([tt - T0 for tt, _ in seg3], [3.0 + p.t_host - 1.234 for _, p in seg3], atol=1e-9)
    assert c.task.done()
    assert t[-1] > 5.0


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
async def test_many_random_seeks_match_ground_truth(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    pkts = make_recording(path, n=800, seed=3)
    rng = np.random.default_rng(4)
    src = ReplaySource(path, speed=None, checkpoint_interval_s=0.3)
    it = aiter(src)
    for _ in range(40):
        target = float(rng.uniform(-1, pkts[-1].t_host + 0.5))
        src.seek(target)
        expected = [p for p in pkts if p.t_host >= target][:5]
        got = []
        for _ in range(len(expected)):
            got.append(await anext(it))
        assert got == expected, target
    src.seek(pkts[-1].t_host + 1)
    with pytest.raises(StopAsyncIteration):
        await anext(it)


async def test_seek_while_paused_and_start_s(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=2.0, clock=clock, start_s=2.0)
    c = Consumer(src, clock)
    await clock.run_until(T0 + 0.5)
    first = [p for _, p in c.got]
    assert first == [p for p in pkts if 2.0 <= p.t_host <= 3.0]
    src.pause()
    src.seek(0.5)
    assert src.position_s == 0.5
    await clock.run_until(T0 + 10)
    assert len(c.got) == len(first)
    src.resume()
    await clock.run_until(T0 + 11)
    seg = c.got[len(first) :]
    assert [p for _, p in seg] == [p for p in pkts if 0.5 <= p.t_host <= 2.5]
    np.testing.assert_allclose([tt - T0 for tt, _ in seg], [10 + (p.t_host - 0.5) / 2 for _, p in seg], atol=1e-9)
    c.task.cancel()


async def test_two_seeks_without_a_packet_between_go_where_the_last_one_says(rec_path: Path) -> None:
    """Paused, a seek forward repositions the reader; a seek back before any packet was read must
    not continue from the forward position (it used to, and the packets in between were lost)."""
    pkts = make_recording(rec_path, n=600)
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=1.0, clock=clock, checkpoint_interval_s=0.2)
    c = Consumer(src, clock)
    await clock.run_until(T0 + 2.0)
    n1 = len(c.got)
    src.pause()
    src.seek(4.0)
    await clock.run_until(T0 + 3.0)  # the reader moves to 4 s; nothing is released while paused
    src.seek(1.0)
    src.seek(1.5)  # and a third: forward again, still before anything was read
    await clock.run_until(T0 + 4.0)
    assert len(c.got) == n1
    src.resume()
    await clock.run_until(T0 + 1000.0)
    assert [p for _, p in c.got[n1:]] == [p for p in pkts if p.t_host >= 1.5]
    assert c.task.done()


async def test_speed_change_reanchors(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock()
    src = ReplaySource(rec_path, speed=1.0, clock=clock)
    c = Consumer(src, clock)
    await clock.run_until(T0 + 1.0)
    n1 = len(c.got)
    src.speed = 4.0
    await clock.run_until(T0 + 1.5)
    seg = c.got[n1:]
    assert [p for _, p in seg] == [p for p in pkts if 1.0 < p.t_host <= 3.0]
    np.testing.assert_allclose([tt - T0 for tt, _ in seg], [1.0 + (p.t_host - 1.0) / 4 for _, p in seg], atol=1e-9)
    src.speed = None  # the rest at once
    await clock.run_until(T0 + 1.5)
    assert [p for _, p in c.got] == pkts and c.task.done()
    with pytest.raises(ValueError):
        src.speed = 0
    with pytest.raises(ValueError):
        ReplaySource(rec_path, speed=-1)


async def test_a_late_consumer_catches_up_without_drift(rec_path: Path) -> None:
    pkts = make_recording(rec_path)
    clock = FakeClock(autojump=True)
    src = ReplaySource(rec_path, speed=1.0, clock=clock)
    got = []
    async for pkt in src:
        got.append((clock.now(), pkt))
        if len(got) == 20:
            clock.t += 0.8  # the consumer stalls for 0.8 s once
    times = np.array([tt - T0 for tt, _ in got])
    want = np.array([p.t_host for p in pkts])
    stall_end = want[19] + 0.8
    np.testing.assert_allclose(times, np.maximum(want, np.where(np.arange(len(want)) >= 20, stall_end, 0)), atol=1e-9)


async def test_events_are_paced_and_reported_not_streamed(rec_path: Path) -> None:
    events = {
        0: [(0.2, "connected", "sacrum", None)],
        100: [(1.5, "battery", "thoracic", 80)],
        299: [(9.0, "marker", None, "end")],
    }
    pkts = make_recording(rec_path, events=events)
    clock = FakeClock(autojump=True)
    seen: list[tuple[float, Event]] = []
    src = ReplaySource(rec_path, speed=1.0, clock=clock, on_event=lambda e: seen.append((clock.now(), e)))
    got = []
    async for p in src:
        got.append(p)
    assert got == pkts and all(isinstance(p, RawPacket) for p in got)
    assert [e for _, e in seen] == [
        Event(0.2, "connected", "sacrum", None),
        Event(1.5, "battery", "thoracic", 80),
        Event(9.0, "marker", None, "end"),
    ]
    # an event is released at its own time, unless a later-stamped line was before it in the file
    assert seen[0][0] == pytest.approx(T0 + 0.2)


async def test_aclose_ends_iteration_and_is_idempotent(rec_path: Path) -> None:
    make_recording(rec_path)
    clock = FakeClock()
    async with ReplaySource(rec_path, speed=1.0, clock=clock) as src:
        c = Consumer(src, clock)
        await clock.run_until(T0 + 1.0)
        n = len(c.got)
        await src.aclose()
        await clock.run_until(T0 + 5.0)
    await src.aclose()
    assert c.task.done() and len(c.got) == n
