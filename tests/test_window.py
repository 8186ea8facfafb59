"""The live window under offscreen Qt: what it draws, the cue, the limits, the screenshot, closing.

The window is stepped by hand: packets of a recording go into the session (`Session.ingest`, what the
loop thread does) and `refresh()` is called as the timer would. Reference: a tracker fed the whole
decoded recording, and the simulator's truth.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtGui

from hinge.analysis.faults import FaultLimits
from hinge.analysis.pipeline import Settings
from hinge.analysis.tracker import Alert, Remeasured, Rep, final_reps
from hinge.sensing.recording import Event, read_recording
from hinge.sensing.replay import simulated_source
from hinge.sensing.source import Tap
from hinge.session import Session
from hinge.sources import replay_source
from hinge.terminal import rep_cells
from hinge.window import AHEAD_MAX_S, PLOTS, LiveWindow, application
from tests.conftest import FAULTY, HREF, RATES, FakeClock, as_written, direct_tracker, simulated, write_recording

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def app():
    return application()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("win") / "faulty.jsonl"
    write_recording(path, simulated(FAULTY))
    return path


def cue_expected(t_end: float, alerts: list[Alert], reps: list[Rep], margin_s: float = 0.1) -> bool | None:
    """Whether a cue is up when the newest frame is at t_end: from a rep's first alert until the next
    rep starts (the rep's end); None within margin_s of a change (refreshes come every 0.5 s of data)."""
    past = [a for a in alerts if a.t <= t_end]
    if not past:
        return False
    last = past[-1]
    owner = next((r.rep for r in reps if r.rep["start_s"] <= last.t <= r.rep["end_s"]), None)
    if owner is None or t_end <= owner["end_s"]:
        return None if t_end - last.t < margin_s else True
    return None if t_end - owner["end_s"] < margin_s else False


class CountingBeeper:
    def __init__(self) -> None:
        self.played = 0

    def play(self) -> None:
        self.played += 1

    def close(self) -> None:
        pass


def test_window_draws_the_trackers_frames_reps_and_cues(app, recording):
    ref_frames, ref_events = direct_tracker(recording)
    alerts = [e for e in ref_events if isinstance(e, Alert)]
    reps = [e for e in ref_events if isinstance(e, Rep)]
    assert alerts and len(reps) == 3
    session = Session(replay_source(recording, speed=None), exercise="deadlift")
    beeper = CountingBeeper()
    win = LiveWindow(session, auto_refresh=False, beeper=beeper)
    win.sound_box.setChecked(True)
    assert win.cue_text == ""
    seen_cue = seen_cleared = seen_still = False
    next_refresh = 0.5
    for pkt in read_recording(recording).packets():
        session.ingest(pkt)
        if pkt.t_host < next_refresh:
            continue
        next_refresh += 0.5
        win.refresh()
        frames = session.frames()
        st = session.status()
        calibrated = st.calibrated
        want = ("Calibrated ✓" + ("" if st.axes else " · bend forward once")) if calibrated else "Stand still…"
        assert win.calibration_label.text() == want
        seen_still |= not calibrated
        if not len(frames):
            continue
        t_end = frames[-1, 0]
        # curves: the tracker's frames of the last 10 s, at least 50 a second (all of them at ≤ 50 Hz),
        # the newest among them
        want = ref_frames[(ref_frames[:, 0] <= t_end + 1e-9) & (ref_frames[:, 0] >= t_end - win.window_s)]
        assert win.t_data == t_end == win.t_end  # replayed as fast as possible: "now" is the newest frame
        for name, col in (("pelvis", 1), ("trunk", 2), ("lumbar", 3)):
            x, y = win.drawn(win.curves[name])  # x axis: time relative to the newest frame
            rows = np.searchsorted(want[:, 0], x + t_end - 1e-7)
            np.testing.assert_allclose(x + t_end, want[rows, 0], atol=1e-9)  # each point drawn is a frame
            np.testing.assert_allclose(y, want[rows, col], atol=1e-9)
            assert rows[-1] == len(want) - 1 and rows[0] <= 1
            assert np.diff(x).max() <= 1 / 50 + 1e-6 or np.diff(rows).max() == 1
        # rep markers: at the bottom of each finished rep still on screen
        # (a rep after a data hole measured again has its marker moved: `Remeasured`)
        shown_reps = final_reps([e for e in ref_events if isinstance(e, (Rep, Remeasured)) and e.t <= t_end + 1e-9])
        done = [r for r in shown_reps if r["bottom_s"] >= t_end - win.window_s]
        assert win.marker_times() == pytest.approx({r["index"]: r["bottom_s"] for r in done})
        for key, (lo, hi) in (("hinge", PLOTS["hinge"][1]), ("lumbar", PLOTS["lumbar"][1])):
            # where they are drawn: one full-height line per rep, at the bottom's time relative to the newest frame
            x, y = win.drawn(win.marker_curves[key])
            assert sorted(x[::2]) == pytest.approx(sorted(r["bottom_s"] - t_end for r in done))
            np.testing.assert_array_equal(x[::2], x[1::2])
            assert set(y[::2]) <= {lo + 0.04 * (hi - lo)} and set(y[1::2]) <= {lo + 0.96 * (hi - lo)}
        # every rep of this set is at fault: every marker says so
        assert win.marker_states() == {r["index"]: "fault" for r in done}
        assert win.table.rowCount() == sum(e.t <= t_end + 1e-9 for e in reps)
        # the cue: up from the rep's first alert until the next rep starts
        shown = cue_expected(t_end, alerts, reps)
        if shown is not None:
            # (its first line: a rep's other faults add their own cue below; tests/test_window_reading.py)
            assert win.cue_text.split("\n")[0] == ("Shoulders never behind hips at the top" if shown else "")
            seen_cue |= shown
            seen_cleared |= not shown and t_end > alerts[0].t  # cleared after a cue: the next rep started
    assert seen_cue and seen_cleared and seen_still
    assert beeper.played == len(alerts)  # sound on: one tone per alert
    session.finish()
    win.refresh()
    assert win.table.rowCount() == 3
    # each row shows its rep as finally measured (this set has a hole: a row was rewritten)
    assert any(isinstance(e, Remeasured) for e in ref_events)
    for row, rep in enumerate(final_reps(ref_events)):
        assert [win.table.item(row, c).text() for c in range(win.table.columnCount())] == [t for t, _ in rep_cells(rep)]
    fault_cells = [win.table.item(r, 2) for r in range(3)]  # trunk top column, all three reps at fault
    assert all(c.background().color().name() == "#d55e00" for c in fault_cells)  # vermillion
    assert win.calibration_label.text().startswith("Calibrated")
    win.close()


def test_fault_limit_bands_follow_the_settings(app, recording):
    limits = FaultLimits().with_overrides(lumbar_rounding=(12.0, 20.0), trunk_behind_vertical=(-4.0, -8.0))
    session = Session(replay_source(recording, speed=None), settings=Settings(limits=limits))
    win = LiveWindow(session, auto_refresh=False)
    bands = {(b.plot, b.kinds, b.severity): (b.lo_deg, b.hi_deg) for b in win.bands}
    assert bands[("lumbar", ("lumbar_rounding",), "caution")] == (12.0, 20.0)
    assert bands[("lumbar", ("lumbar_rounding",), "fault")][0] == 20.0
    assert bands[("hinge", ("trunk_behind_vertical",), "caution")] == (-8.0, -4.0)
    assert bands[("hinge", ("trunk_behind_vertical",), "fault")][1] == -8.0
    assert bands[("hinge", ("posterior_pelvic_tilt",), "caution")] == (-10.0, -5.0)
    assert bands[("lumbar", ("lumbar_hyperextension",), "caution")] == (-10.0, -5.0)
    drawn = sorted(tuple(round(v, 6) for v in item.getRegion()) for item in win.band_items)
    assert drawn == sorted((b.lo_deg, b.hi_deg) for b in win.bands)
    win.close()


def test_screenshot_of_a_replayed_set_is_not_blank(app, recording):
    session = Session(replay_source(recording, speed=None), exercise="deadlift")
    win = LiveWindow(session, auto_refresh=False)
    asyncio.run(session.run())  # the whole set, as fast as possible, on this thread
    win.show()
    win.refresh()
    out = ARTIFACTS / "live-window-test.png"
    assert win.save_screenshot(out)
    img = QtGui.QImage(str(out)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    assert img.width() >= 800 and img.height() >= 500
    px = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 4]
    assert px.std() > 20  # not a blank or single-colour image
    assert len(np.unique(px.reshape(-1, 4)[::97], axis=0)) > 20
    win.close()


def test_replay_controls_reach_the_session(app, recording, monkeypatch):
    session = Session(replay_source(recording, speed=None))
    win = LiveWindow(session, auto_refresh=False)
    calls = []
    monkeypatch.setattr(session, "seek", lambda t: calls.append(("seek", t)))
    monkeypatch.setattr(session, "set_speed", lambda v: calls.append(("speed", v)))
    monkeypatch.setattr(session, "pause", lambda: calls.append(("pause",)))
    assert win.timeline.maximum() == int(np.ceil(session.source.duration_s * 10))
    win.speed_box.setCurrentIndex(2)
    win.timeline.setValue(55)
    win._timeline_released()
    win.play_button.click()
    assert calls == [("speed", 2.0), ("seek", 5.5), ("pause",)]
    win.close()


def test_closing_the_window_stops_the_thread_ends_the_source_and_flushes_the_recording(app, recording, tmp_path):
    packets = list(read_recording(recording).packets())
    paced = simulated_source(packets, {s: HREF for s in RATES}, RATES, speed=1.0)
    released, reached = [], threading.Event()

    def count(pkt) -> None:
        released.append(pkt)
        if len(released) >= 30:
            reached.set()

    out = tmp_path / "live.jsonl"
    session = Session(Tap(paced, count), record_to=out)
    win = LiveWindow(session, auto_refresh=False)
    session.start()
    assert reached.wait(20)
    win.close()
    assert session.done and not session._thread.is_alive()
    assert paced._closed and session.recorder.closed
    items = list(read_recording(out))
    got = [i for i in items if not isinstance(i, Event)]
    n = sum(s.packets for s in session.status().sensors.values())
    assert n >= 30 and as_written(got) == as_written(packets[:n])  # every packet the session saw, on disk
    assert {(e.sensor, e.event) for e in items if isinstance(e, Event)} >= {("sacrum", "connected"),
                                                                          ("thoracic", "connected")}


def test_time_axis_runs_on_with_the_clock_between_rounds(app, recording):
    """Between rounds of frames "now" moves on with the session clock (at the stream's speed, at most
    AHEAD_MAX_S past the newest frame), so the plots scroll at the refresh rate; curves keep their data."""
    packets = list(read_recording(recording).packets())
    feed = replay_source(recording, speed=2.0)
    session = Session(feed, clock=FakeClock())  # the session clock stands still between the two readings
    win = LiveWindow(session, auto_refresh=False)
    for pkt in packets[: len(packets) // 2]:
        session.ingest(pkt)
    t_data = float(session.frames()[-1, 0])
    for since, ahead in ((0.01, 0.02), (0.02, 0.04), (1.0, AHEAD_MAX_S)):
        session.frames_at = session.now() - since
        win.refresh()
        assert win.t_data == t_data
        assert win.t_end - t_data == pytest.approx(ahead, abs=1e-9)  # speed 2: data time runs twice as fast
        x, _ = win.drawn(win.curves["trunk"])
        assert x[-1] == pytest.approx(t_data - win.t_end)  # the newest frame, just left of "now"
    session.pause()
    win.refresh()
    assert win.overview  # paused: the set so far, not a scrolling window (tests below)
    win.close()


class ThreadNoted:
    """A replay source that notes which thread reads its playback state (delegates everything else)."""

    def __init__(self, source) -> None:
        self.__dict__["_src"] = source
        self.__dict__["readers"] = set()

    def __getattr__(self, name):
        if name in ("paused", "position_s", "speed", "duration_s"):
            self.readers.add(threading.current_thread().name)
        return getattr(self._src, name)

    def __setattr__(self, name, value) -> None:
        setattr(self._src, name, value)

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._src.__anext__()

    async def __aenter__(self):
        await self._src.__aenter__()
        return self

    async def __aexit__(self, *exc):
        await self._src.__aexit__(*exc)


def test_seeking_while_the_window_polls_reads_only_the_published_status(app, recording):
    """The window reads only the status the loop thread publishes: seeks run on the loop thread while the
    window refreshes; the source's playback state is never read from the window's thread (it used to
    be, while the loop thread changed it: a TypeError in the window's refresh during a seek)."""
    src = ThreadNoted(replay_source(recording, speed=4.0))
    session = Session(src)
    win = LiveWindow(session, auto_refresh=False)
    src.readers.clear()  # constructing the session reads the source (no loop thread yet)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        session.start()
        rng = np.random.default_rng(0)
        duration = session.status().duration_s
        for _ in range(100):
            session.seek(float(rng.uniform(0.0, duration)))
            for _ in range(5):
                win.refresh()
                st = session.status()
                assert st.error is None
                assert 0.0 <= st.position_s <= duration and st.speed == 4.0
    finally:
        sys.setswitchinterval(old_interval)
        win.close()
        session.close()
    assert session.error is None
    assert src.readers <= {"hinge-session"}, f"playback state read from {src.readers - {'hinge-session'}}"
