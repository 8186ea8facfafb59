"""The live runner: sources → recorder → decoders → tracker → ring buffer / events / status.

Ground truth: the simulator's reps and faults, the packets written to the recording, and a tracker fed
the decoded recording directly (chunk-invariant, so the runner's batching must not change anything).
No wall-clock sleeps: replays run as fast as possible or on a virtual clock.
"""

from __future__ import annotations

import asyncio
import io
import threading

import numpy as np
import pytest

from hinge import session as session_module
from hinge.analysis.tracker import Rep, final_reps
from hinge.framering import FrameRing
from hinge.sensing.csvio import write_csv
from hinge.sensing.emulated_source import EmulatedSource
from hinge.sensing.recording import Event, read_recording
from hinge.sensing.replay import simulated_source as paced_packets
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimConfig
from hinge.session import Session
from hinge.sources import replay_source, simulated_source
from hinge.terminal import run_headless
from tests.conftest import FAULTY, HREF, RATES, FakeClock, as_written, direct_tracker, simulated, write_recording


@pytest.fixture(scope="module")
def faulty_rec(tmp_path_factory):
    sim = simulated(FAULTY)
    path = tmp_path_factory.mktemp("rec") / "faulty.jsonl"
    packets = write_recording(path, sim)
    return sim, path, packets


def test_replay_session_reproduces_the_recorded_set(faulty_rec):
    sim, path, _ = faulty_rec
    session = Session(replay_source(path, speed=None), exercise="deadlift", ring_s=120.0)
    asyncio.run(session.run())
    assert session.status().state == "finished"
    reps = session.reps
    assert len(reps) == len(sim.truth["reps"]) == 3
    for rep, true in zip(reps, sim.truth["reps"], strict=True):
        assert abs(rep["trunk_top_deg"] - true["trunk_top_deg"]) < 2.0
        assert [f["severity"] for f in rep["faults"] if f["kind"] == "trunk_behind_vertical"] == ["fault"]
    frames, events = direct_tracker(path)
    np.testing.assert_allclose(session.frames(), frames, rtol=0, atol=1e-9)  # batching changed nothing
    got = [e.event for e in session.events_since(0)[0]]
    assert [type(e) for e in got] == [type(e) for e in events]
    assert [e.t for e in got] == pytest.approx([e.t for e in events], abs=1e-9)
    assert [e.rep for e in got if isinstance(e, Rep)] == [e.rep for e in events if isinstance(e, Rep)]
    assert final_reps(got) == final_reps(events)
    st = session.status()
    assert st.calibrated and st.reps == 3
    assert st.sensors["sacrum"].battery == 64  # recorded battery event reaches the status
    assert st.sensors["thoracic"].packets == sum(p.sensor == "thoracic" for p in faulty_rec[2])
    assert 95 < st.sensors["thoracic"].rate_hz < 105


def test_events_since_is_a_cursor(faulty_rec):
    _, path, _ = faulty_rec
    session = Session(replay_source(path, speed=None))
    asyncio.run(session.run())
    everything, end = session.events_since(0)
    assert end == len(everything) and session.events_since(end) == ([], end)
    tail, _ = session.events_since(end - 2)
    assert tail == everything[-2:]


def test_frame_ring_keeps_the_newest_rows_in_order():
    ring = FrameRing(5)
    rows = np.column_stack([np.arange(12.0), np.zeros((12, 3))])
    ring.extend(rows[:3])
    np.testing.assert_array_equal(ring.latest(), rows[:3])
    ring.extend(rows[3:9])
    np.testing.assert_array_equal(ring.latest(), rows[4:9])
    ring.extend(rows[9:12])
    np.testing.assert_array_equal(ring.latest(), rows[7:12])
    np.testing.assert_array_equal(ring.latest(last_s=1.5), rows[10:12])
    ring.extend(np.column_stack([np.arange(20.0, 40.0), np.ones((20, 3))]))  # more than the capacity at once
    assert ring.latest()[:, 0].tolist() == [35.0, 36.0, 37.0, 38.0, 39.0]
    assert ring.newest_t() == 39.0 and FrameRing(3).newest_t() is None


def test_frame_ring_last_seconds_match_a_plain_list_at_every_wrap_position():
    rng = np.random.default_rng(3)
    ring, held = FrameRing(7), np.zeros((0, 4))
    t = 0.0
    for _ in range(60):
        k = int(rng.integers(1, 5))
        rows = np.column_stack([t + np.cumsum(rng.uniform(0.1, 1.0, k)), rng.normal(size=(k, 3))])
        t = rows[-1, 0]
        ring.extend(rows)
        held = np.vstack([held, rows])[-7:]
        for last_s in (0.0, 0.3, 1.0, 2.5, 5.0, 100.0, float(held[-1, 0] - held[2, 0])):
            np.testing.assert_array_equal(ring.latest(last_s), held[held[:, 0] >= held[-1, 0] - last_s])


def test_simulated_source_releases_packets_at_their_arrival_times():
    sim = simulated(SimConfig(exercise="swing", reps=1, seed=1, rates_hz=RATES))
    clock = FakeClock(t=50.0)
    feed = simulated_source(sim, speed=2.0, clock=clock)
    packets = list(feed.packets_before(float("inf")))
    released: list[tuple[float, float]] = []

    async def main():
        async def consume():
            async for pkt in feed:
                released.append((clock.now(), pkt.t_host))

        task = asyncio.ensure_future(consume())
        await clock.run_until(50.0 + 3.0)  # 3 s of clock = 6 s of set at speed 2
        assert not task.done()
        n_at_3 = len(released)
        await clock.run_until(1e9)
        await task
        return n_at_3

    n_at_3 = asyncio.run(main())
    assert len(released) == len(packets)
    assert released[n_at_3 - 1][1] <= 6.0 < packets[n_at_3].t_host
    for t_clock, t_host in released:
        assert t_clock == pytest.approx(50.0 + t_host / 2.0)


def test_duration_stops_the_run_on_the_session_clock(faulty_rec, tmp_path):
    sim, _, packets = faulty_rec
    clock = FakeClock(t=0.0)
    out = tmp_path / "short.jsonl"
    session = Session(paced_packets(packets, {s: HREF for s in RATES}, RATES, clock=clock), clock=clock,
                      record_to=out)

    async def main():
        run = asyncio.ensure_future(session.run(duration_s=5.0))
        await clock.run_until(1e9)
        await run

    asyncio.run(main())
    rec = read_recording(out)
    assert as_written(rec.packets()) == as_written(p for p in packets if p.t_host <= 5.0)  # all up to 5 s, none after
    assert session.status().state == "stopped" and session.recorder.closed


def _replay_on_fake_clock(path):
    """A session replaying `path` at real speed on an injected clock starting at 0 s: (clock, session)."""
    clock = FakeClock(t=0.0)
    return clock, Session(replay_source(path, speed=1.0, clock=clock), clock=clock)


def test_seek_restarts_the_analysis_and_reaches_the_same_result(faulty_rec):
    _, path, _ = faulty_rec
    clock, session = _replay_on_fake_clock(path)
    first_generation = session.generation

    async def main():
        run = asyncio.ensure_future(session.run())
        await clock.run_until(9.0)
        before = session.status()
        assert 8.0 < before.t_s <= 9.0 and before.calibrated
        session.seek(6.0)  # backward: the analysis restarts, replays fast to 6 s, then plays on
        await clock.settle()
        after = session.status()
        assert session.generation == first_generation + 1
        assert after.position_s == pytest.approx(6.0, abs=0.05)
        assert after.t_s < 6.0 and after.calibrated  # rebuilt from the start, up to the seek target
        await clock.run_until(1e9)
        await run

    asyncio.run(main())
    _, events = direct_tracker(path)
    assert session.reps == final_reps(events)


def test_seek_rebuilds_in_steps_with_the_loop_running_and_a_newer_seek_wins(faulty_rec, monkeypatch):
    """A seek rebuilds the analysis a chunk of packets at a time and the loop runs in between (the status
    is published, controls are taken); the old code rebuilt in one callback while the loop stood still.
    A seek during the rebuild supersedes it, a pause during it holds the replay at the target, and the
    reps in the end are those of one tracker fed the whole recording."""
    monkeypatch.setattr(session_module, "_REBUILD_CHUNK", 20)  # 0.4 s of the 2 x 25 packets/s pair
    _, path, _ = faulty_rec
    clock, session = _replay_on_fake_clock(path)
    first_generation = session.generation

    async def main():
        run = asyncio.ensure_future(session.run())
        await clock.run_until(9.0)
        session.seek(12.0)
        seen = []  # (seeking, newest frame time) after each turn of the loop
        while len(seen) < 100 and (not seen or seen[-1][1] is None or seen[-1][1] < 7.0):
            await asyncio.sleep(0)
            st = session.status()
            assert st.position_s == pytest.approx(12.0)
            seen.append((st.seeking, st.t_s))
        assert all(seeking for seeking, _ in seen)  # still rebuilding, and the status says so
        progress = [t for _, t in seen if t is not None]  # frames start once the neutral is found (~5 s)
        assert len(progress) >= 3 and np.all(np.diff(progress) > 0) and progress[-1] < 12.0 - 0.4 * 5
        session.seek(7.5)  # supersedes the rebuild to 12 s
        session.pause()  # taken during the rebuild: the replay stays at 7.5 s afterwards
        await clock.settle()
        st = session.status()
        assert not st.seeking and st.paused and st.state == "paused"
        assert session.generation == first_generation + 2
        assert 7.0 < st.t_s < 7.5 and st.position_s == pytest.approx(7.5)
        await clock.run_until(30.0)
        assert session.status().position_s == pytest.approx(7.5) and session.status().t_s < 7.5
        session.resume()
        await clock.run_until(1e9)
        await run

    asyncio.run(main())
    _, events = direct_tracker(path)
    assert session.reps == final_reps(events)


def test_pause_and_speed_controls_move_replay_time(faulty_rec):
    _, path, _ = faulty_rec
    clock, session = _replay_on_fake_clock(path)

    async def main():
        run = asyncio.ensure_future(session.run())
        await clock.run_until(4.0)
        session.pause()
        await clock.run_until(10.0)
        assert session.status().state == "paused"
        assert session.status().position_s == pytest.approx(4.0, abs=0.02)
        session.set_speed(2.0)
        session.resume()
        await clock.run_until(12.0)  # 2 s of clock at 2x: recording time 8 s
        assert session.status().position_s == pytest.approx(8.0, abs=0.05)
        session.stop()
        await run

    asyncio.run(main())


def test_csv_input_replays_through_the_same_pipeline(tmp_path):
    sim = simulated(FAULTY)
    csv = tmp_path / "set.csv"
    write_csv(csv, sim.series)
    feed = replay_source(csv, speed=None)
    tmpdir = feed._tmpdir.name
    session = Session(feed)
    asyncio.run(session.run())
    assert len(session.reps) == 3
    for rep, true in zip(session.reps, sim.truth["reps"], strict=True):
        assert abs(rep["depth_deg"] - true["depth_deg"]) < 2.0
    import os

    assert not os.path.exists(tmpdir)  # the converted recording is removed with the source


def test_terminal_view_prints_a_row_per_rep_and_the_cue(faulty_rec):
    sim, path, _ = faulty_rec
    out = io.StringIO()
    view = asyncio.run(run_headless(Session(replay_source(path, speed=None)), out=out))
    text = out.getvalue()
    rows = [line for line in text.splitlines() if line.strip()[:1].isdigit()]
    again = text.count("measured again after a data hole:")  # a rep after a hole: its row again, remeasured
    assert len(rows) == view.rows + again and view.rows == len(sim.truth["reps"])
    assert all("trunk behind vertical (fault" in r for r in rows)
    assert "! Shoulders never behind hips at the top" in text
    assert text.rstrip().splitlines()[-1].startswith("finished")


def test_close_is_idempotent_and_stops_the_loop_thread(faulty_rec, tmp_path):
    _, _, packets = faulty_rec
    out = tmp_path / "threaded.jsonl"
    feed = paced_packets(packets, {s: HREF for s in RATES}, RATES, speed=None)
    session = Session(feed, record_to=out).start()
    assert session.wait(30)
    session.close()
    session.close()
    assert not any(t.name == "hinge-session" and t.is_alive() for t in threading.enumerate())
    assert as_written(read_recording(out).packets()) == as_written(packets)
    assert session.status().state == "finished"


def test_a_session_that_never_ran_closes_its_recording_and_leaves_no_file(tmp_path):
    """Nothing connected, no packet recorded: a header alone is no set (`analyze` refuses it), so no file."""
    sim = simulated(FAULTY)
    session = Session(simulated_source(sim), record_to=tmp_path / "never.jsonl")
    assert (tmp_path / "never.jsonl").exists()  # opened at once: a bad path fails before anything connects
    session.close()
    assert session.recorder.closed and list(tmp_path.iterdir()) == []


def test_emulated_ble_demo_source_streams_the_set_and_disconnects_on_close(tmp_path):
    """The demo's path: emulated Bumble sensors → bleak client → runner; real time, so keep it short."""
    sim = simulated(SimConfig(exercise="deadlift", reps=1, seed=6, rates_hz={"sacrum": 200.0, "thoracic": 200.0},
                              stand_s=3.5, tail_s=0.5))
    out = tmp_path / "emulated.jsonl"
    session = Session(EmulatedSource(sim, HREF), record_to=out)
    session.start()
    try:
        assert session.wait(60), "the emulated set did not finish"
    finally:
        session.close()
    assert session.error is None
    rec = read_recording(out)
    items = list(rec)
    events = [i for i in items if isinstance(i, Event)]
    kinds = {(e.sensor, e.event) for e in events}
    assert {("sacrum", "connected"), ("thoracic", "connected"), ("sacrum", "disconnected"),
            ("thoracic", "disconnected"), ("sacrum", "battery")} <= kinds
    n_packets = sum(1 for i in items if not isinstance(i, Event))
    st = session.status()
    assert n_packets == st.sensors["sacrum"].packets + st.sensors["thoracic"].packets
    assert st.calibrated and len(session.reps) == 1
    assert abs(session.reps[0]["depth_deg"] - sim.truth["reps"][0]["depth_deg"]) < 3.0


async def test_packets_wait_for_a_round_or_batch_s():
    """Live packets are decoded and fed when every sensor has one queued (a round) or `batch_s` after the
    first was queued. Here only the sacrum streams, so no round completes: nothing is fed before batch_s.
    Source, session and batch timer run on one virtual clock."""
    sim = simulated(SimConfig(exercise="deadlift", reps=1, seed=3, rates_hz=RATES))
    sacrum = [p for p in simulated_packets(sim, {s: HREF for s in RATES}) if p.sensor == "sacrum"][:20]
    last = sacrum[-1]
    later = type(last)(1000.0, last.sensor, last.payload)  # keeps the feed open (not ended, not finished)
    clock = FakeClock(t=0.0)
    speed, batch_s = 8.0, 1.5
    feed = paced_packets([*sacrum, later], {s: HREF for s in RATES}, RATES, speed=speed, clock=clock)
    session = Session(feed, batch_s=batch_s, clock=clock)
    fed = lambda: session.tracker.status["sensors"]["sacrum"]["samples"]  # noqa: E731
    run = asyncio.ensure_future(session.run())
    try:
        t_first, t_all_in = sacrum[0].t_host / speed, sacrum[-1].t_host / speed
        assert t_all_in < t_first + batch_s
        await clock.run_until(t_all_in + 1e-3)  # the recording keeps times to the µs
        assert fed() == 0 and session.status().sensors["sacrum"].packets == len(sacrum)  # queued, not fed
        await clock.run_until(t_first + batch_s - 1e-6)
        assert fed() == 0
        await clock.run_until(t_first + batch_s)  # fed by the batch_s timer
        assert fed() == 4 * len(sacrum)  # hinge-ref: 4 samples a packet, every one fed
    finally:
        session.stop()
        await run
