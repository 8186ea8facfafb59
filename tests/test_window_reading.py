"""The window a lifter reads from two metres (issue 11), checked on what Qt renders offscreen.

Curves, markers, the whole-set view and the screenshot are read back from grabbed pixels; the keys and
the timeline get real `QTest` events; the replays run on a `FakeClock`. Ground truth: the simulator's
configuration (reps, faults), the recording's own packets and header, the tracker's events (what the
window is told), and the cue texts as the issue words them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

import hinge.window
from hinge.analysis.faults import FaultLimits
from hinge.analysis.pipeline import Settings
from hinge.analysis.tracker import Alert, Rep
from hinge.cli import main
from hinge.sensing.recording import Recorder, SensorInfo, read_recording
from hinge.sensing.simsource import simulated_packets
from hinge.session import Session
from hinge.sources import replay_source
from hinge.window import LiveWindow, application, run_window
from tests.conftest import FAULTY, HREF, RATES, FakeClock, SimConfig, direct_tracker, simulated, write_recording

CUES = {  # as issue 11 words them
    "trunk_behind_vertical": "Shoulders never behind hips at the top",
    "lumbar_hyperextension": "Shoulders never behind hips at the top",
    "lumbar_rounding": "Spine never rounds when leaning over",
    "posterior_pelvic_tilt": "No glute squeeze — just stand up straight",
}
TRUNK, PELVIS = "trunk", "pelvis"


@pytest.fixture(scope="module")
def app():
    return application()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("reading") / "faulty.jsonl"
    write_recording(path, simulated(FAULTY))
    return path


def one_fault(kind: str, magnitude: float = 14.0) -> SimConfig:
    """Two deadlift reps, the first with `kind` injected, the second clean."""
    return SimConfig(exercise="deadlift", reps=2, seed=6, faults={kind: magnitude}, fault_reps=(1,), rates_hz=RATES)


def pixels(widget: QtWidgets.QWidget) -> np.ndarray:
    """The widget as rendered: (h, w, 3) uint8 RGB."""
    QtWidgets.QApplication.processEvents()
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def colour_mask(px: np.ndarray, colour: str) -> np.ndarray:
    c = QtGui.QColor(colour)
    return np.all(px == (c.red(), c.green(), c.blue()), axis=2)


def curve_colour(name: str) -> str:
    return next(colour for n, _col, colour, _plot in hinge.window.CURVES if n == name)


def _linear(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(rgb) -> float:
    return float(np.dot(_linear(np.asarray(rgb, float)), [0.2126, 0.7152, 0.0722]))


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# Viénot, Brettel & Mollon (1999): dichromat simulation in linear RGB
_DICHROMAT = {
    "protanopia": np.array([[0.11238, 0.88762, 0.0], [0.11238, 0.88762, 0.0], [0.00401, -0.00401, 1.0]]),
    "deuteranopia": np.array([[0.29275, 0.70725, 0.0], [0.29275, 0.70725, 0.0], [-0.02234, 0.02234, 1.0]]),
}


def seen_as(rgb, vision: str) -> np.ndarray:
    """A colour as a dichromat sees it, in linear RGB (normal vision: unchanged)."""
    lin = _linear(np.asarray(rgb, float))
    return lin if vision == "normal" else _DICHROMAT[vision] @ lin


def rgb(colour: str) -> tuple[int, int, int]:
    c = QtGui.QColor(colour)
    return c.red(), c.green(), c.blue()


def finished_window(path: Path, **kw) -> tuple[Session, LiveWindow]:
    """The whole recording replayed as fast as possible (the session has ended), window shown and pulled."""
    session = Session(replay_source(path, speed=None), exercise="deadlift", **kw)
    win = LiveWindow(session, auto_refresh=False)
    asyncio.run(session.run())
    win.show()
    win.refresh()
    return session, win


def scene_to_widget(win: LiveWindow, plot: str, t: float, deg: float) -> tuple[float, float]:
    """Where (set time, degrees) on a plot lands in the graphs widget's pixels."""
    item = win.plots[plot]
    vb = item.getViewBox()
    point = vb.mapViewToScene(QtCore.QPointF(t, deg))
    view = win.graphs.mapFromScene(point)
    return float(view.x()), float(view.y())


def shown_range(win: LiveWindow) -> tuple[float, float]:
    """The set times (s) the plots show: the view's x range less the shift of what scrolls (items sit
    at set time in a group the window moves)."""
    lo, hi = win.plots["hinge"].viewRange()[0]
    shift = win.scroll_groups["hinge"].pos().x()
    return lo - shift, hi - shift


def runs(flags: np.ndarray, min_gap: int = 3) -> int:
    """Separate runs of True (gaps shorter than min_gap joined)."""
    idx = np.flatnonzero(flags)
    if not len(idx):
        return 0
    return 1 + int(np.sum(np.diff(idx) > min_gap))


# -- trunk and pelvis at a glance --------------------------------------------------------------------
def stroke_px(mask: np.ndarray) -> float:
    """The median number of a curve's pixels per image column it appears in (its drawn thickness,
    at least, where it runs level)."""
    per_column = mask.sum(axis=0)
    return float(np.median(per_column[per_column > 0]))


def test_trunk_and_pelvis_are_told_apart_by_colour_and_width_in_the_rendered_plot(app, recording):
    packets = list(read_recording(recording).packets())
    session = Session(replay_source(recording, speed=None), exercise="deadlift")
    live = LiveWindow(session, auto_refresh=False)
    live.show()
    for pkt in packets[: 3 * len(packets) // 4]:  # mid-set: the live, scrolling view
        session.ingest(pkt)
    live.refresh()
    _session, whole = finished_window(recording)  # the set is over: the whole set
    for view, win in (("live", live), ("whole set", whole)):
        px = pixels(win.graphs)
        trunk, pelvis = colour_mask(px, curve_colour(TRUNK)), colour_mask(px, curve_colour(PELVIS))
        assert trunk.sum() > 1500 and pelvis.sum() > 800, (view, trunk.sum(), pelvis.sum())
        # the trunk's line is clearly the heavier one
        assert stroke_px(trunk) >= 1.5 * stroke_px(pelvis), (view, stroke_px(trunk), stroke_px(pelvis))
        win.close()
    # and the two colours stay apart for the common colour blindnesses too
    a, b = rgb(curve_colour(TRUNK)), rgb(curve_colour(PELVIS))
    for vision in ("normal", "protanopia", "deuteranopia"):
        assert np.linalg.norm(seen_as(a, vision) - seen_as(b, vision)) > 0.3, vision
    # nothing else on the plots is drawn in the curves' colours (a marker or band mistaken for a curve)
    others = [hinge.window.MARKER_LINE, *hinge.window.SEVERITY_COLOURS.values(),
              *(c for _sign, c in hinge.window.REP_MARKS.values())]
    curves = {QtGui.QColor(curve_colour(n)).name() for n in (TRUNK, PELVIS)}
    assert not {QtGui.QColor(c).name() for c in others} & curves


def test_the_key_is_off_the_plots_and_the_rep_count_is_large(app, recording):
    session, win = finished_window(recording)
    # no legend inside a plot (it sat over the rep markers): the key is a row of its own above them
    assert all(plot.legend is None for plot in win.plots.values())
    key = win.key_label.text()
    for words in ("trunk", "pelvis", "ok", "caution", "fault", "not judged"):
        assert words in key
    graphs_top = win.graphs.mapTo(win.centralWidget(), QtCore.QPoint(0, 0)).y()
    assert win.key_label.isVisible() and win.key_label.geometry().bottom() < graphs_top
    # the rep count, as rendered: its digits stand at least 40 px tall (the status text is ~13 px)
    px = pixels(win.rep_count_label)
    dark = (px.astype(int).sum(axis=2) < 200).any(axis=1)
    rows = np.flatnonzero(dark)
    assert len(session.reps) == FAULTY.reps
    assert rows.size and rows[0] < px.shape[0] // 2  # the number sits above the word
    digit_rows = runs(dark, min_gap=1)
    assert digit_rows == 2  # the number and the word "reps"
    first = np.flatnonzero(np.diff(np.concatenate([[0], dark.astype(int), [0]])))
    assert first[1] - first[0] >= 40, first
    assert win.rep_count_label.text().count(str(FAULTY.reps)) >= 1
    win.close()


# -- the whole set ------------------------------------------------------------------------------------
def test_after_the_set_the_plots_show_the_whole_set_with_zoom_and_pan(app, recording):
    span = [p.t_host for p in read_recording(recording).packets()]
    session, win = finished_window(recording)
    lo, hi = shown_range(win)
    assert lo <= span[0] + 1.0 and hi >= span[-1] - 0.2, (lo, hi, span[0], span[-1])
    assert sorted(win.marker_times()) == list(range(1, FAULTY.reps + 1))
    # rendered: every rep's bottom, i.e. as many separate stretches of trunk line above 40° as reps
    px = pixels(win.graphs)
    trunk = colour_mask(px, curve_colour(TRUNK))
    _x, y40 = scene_to_widget(win, "hinge", 0.0, 40.0)
    assert runs(trunk[: int(y40)].any(axis=0)) == FAULTY.reps
    # the mouse wheel zooms in, a drag pans
    viewport = win.graphs.viewport()
    x_mid, y_mid = scene_to_widget(win, "hinge", (lo + hi) / 2, 50.0)
    pos = QtCore.QPointF(x_mid, y_mid)
    wheel = QtGui.QWheelEvent(pos, viewport.mapToGlobal(pos), QtCore.QPoint(0, 0), QtCore.QPoint(0, 240),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(viewport, wheel)
    zlo, zhi = shown_range(win)
    assert zhi - zlo < 0.8 * (hi - lo), ((lo, hi), (zlo, zhi))
    win.plots["hinge"].getViewBox().translateBy(x=-1.0)  # what a drag does
    plo, phi = shown_range(win)
    assert plo == pytest.approx(zlo - 1.0, abs=1e-6) and phi == pytest.approx(zhi - 1.0, abs=1e-6)
    win.close()


def test_a_paused_replay_shows_the_set_so_far_and_resumes_scrolling(app, recording):
    packets = list(read_recording(recording).packets())
    session = Session(replay_source(recording, speed=1.0, clock=FakeClock()), exercise="deadlift")
    win = LiveWindow(session, auto_refresh=False)
    win.show()
    for pkt in packets[: 9 * len(packets) // 10]:
        session.ingest(pkt)
    win.refresh()
    t_data = win.t_data
    lo, hi = shown_range(win)
    assert hi - lo == pytest.approx(win.window_s + 0.1, abs=0.01)  # live: the last 10 s
    QTest.keyClick(win.centralWidget(), QtCore.Qt.Key.Key_Space)
    assert session.status().paused
    win.refresh()
    lo, hi = shown_range(win)
    assert lo <= packets[0].t_host + 1.0 and hi >= t_data, (lo, hi, t_data)
    assert sorted(win.marker_times()) == [r["index"] for r in session.reps]
    assert len(session.reps) >= 2
    QTest.keyClick(win.centralWidget(), QtCore.Qt.Key.Key_Space)
    assert not session.status().paused
    for pkt in packets[9 * len(packets) // 10 :]:
        session.ingest(pkt)
    win.refresh()
    lo, hi = shown_range(win)
    assert hi - lo == pytest.approx(win.window_s + 0.1, abs=0.01)  # scrolling again
    win.close()


# -- the controls ---------------------------------------------------------------------------------------
def test_arrow_keys_and_a_click_on_the_timeline_seek(app, recording):
    packets = list(read_recording(recording).packets())
    duration = max(p.t_host for p in packets)
    session = Session(replay_source(recording, speed=1.0, clock=FakeClock()), exercise="deadlift")
    win = LiveWindow(session, auto_refresh=False)
    win.show()
    QtWidgets.QApplication.processEvents()
    target = win.centralWidget()

    def position() -> float:
        return session.status().position_s

    def newest_frame() -> float:
        return float(session.frames()[-1, 0])

    QTest.keyClick(target, QtCore.Qt.Key.Key_Right)
    assert position() == pytest.approx(5.0)
    QTest.keyClick(target, QtCore.Qt.Key.Key_Right)
    assert position() == pytest.approx(10.0)
    assert 9.5 < newest_frame() <= 10.0  # the analysis was rebuilt up to there
    QTest.keyClick(target, QtCore.Qt.Key.Key_Left)
    assert position() == pytest.approx(5.0)
    for _ in range(2):
        QTest.keyClick(target, QtCore.Qt.Key.Key_Left)
    assert position() == 0.0  # not before the start
    # a click on the timeline, three quarters along its groove: there, not a page step
    slider = win.timeline
    opt = QtWidgets.QStyleOptionSlider()
    slider.initStyleOption(opt)
    groove = slider.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                           QtWidgets.QStyle.SubControl.SC_SliderGroove, slider)
    handle = slider.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                           QtWidgets.QStyle.SubControl.SC_SliderHandle, slider)
    x = groove.x() + handle.width() / 2 + 0.75 * (groove.width() - handle.width())
    QTest.mouseClick(slider, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     QtCore.QPoint(int(round(x)), slider.height() // 2))
    assert position() == pytest.approx(0.75 * duration, abs=0.15)
    assert newest_frame() == pytest.approx(0.75 * duration, abs=0.2)
    win.close()


# -- the cue ---------------------------------------------------------------------------------------------
def step(win: LiveWindow, session: Session, path: Path, every_s: float = 0.1):
    """Feed the recording packet by packet, refreshing every `every_s` of data; yields each refresh's
    newest frame time."""
    next_refresh = every_s
    for pkt in read_recording(path).packets():
        session.ingest(pkt)
        if pkt.t_host >= next_refresh:
            next_refresh += every_s
            win.refresh()
            if len(session.frames()):
                yield float(session.frames()[-1, 0])


@pytest.mark.parametrize("kind", list(CUES))
def test_each_fault_has_its_cue_and_it_clears_when_the_next_rep_starts(app, tmp_path, kind):
    path = tmp_path / f"{kind}.jsonl"
    write_recording(path, simulated(one_fault(kind, 30.0 if kind == "lumbar_rounding" else 14.0)))
    _frames, events = direct_tracker(path)
    alerts = [e for e in events if isinstance(e, Alert)]
    reps = [e.rep for e in events if isinstance(e, Rep)]
    assert kind in {a.kind for a in alerts} and len(reps) == 2 and not reps[1]["faults"]
    session = Session(replay_source(path, speed=None), exercise="deadlift")
    win = LiveWindow(session, auto_refresh=False)
    shown = set()
    for t in step(win, session, path):
        raised = [a for a in alerts if a.t <= t]
        if not raised or t - raised[-1].t < 0.05 or abs(t - reps[0]["end_s"]) < 0.05:
            continue  # the window pulls every 0.1 s: let it catch up with a change
        if t < reps[0]["end_s"]:  # the first rep: its cues, one line per distinct cue
            want = list(dict.fromkeys(CUES[a.kind] for a in raised))
            assert win.cue_text.split("\n") == want, t
            shown.update(want)
        else:  # the second (clean) rep has started: the cue is gone
            assert win.cue_text == "", t
    assert CUES[kind] in shown
    win.close()


def test_one_cue_text_in_window_terminal_and_report(app, tmp_path):
    """The pelvic-tilt cue reads the same in the replay's terminal view and in analyze's report."""
    path = tmp_path / "tilt.jsonl"
    write_recording(path, simulated(one_fault("posterior_pelvic_tilt")))
    cue = CUES["posterior_pelvic_tilt"]
    for argv in (["replay", str(path), "--speed", "0", "--terminal"], ["analyze", str(path)]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(argv) == 0
        assert cue in out.getvalue(), argv
        assert "Shoulders never behind hips at the top" not in out.getvalue().split(cue)[0].splitlines()[-1]


# -- readable text on the highlight colours ----------------------------------------------------------------
def text_contrast(px: np.ndarray) -> float:
    """Contrast of rendered text against its background: the commonest colour is the background, the
    pixel furthest from it in luminance is the core of a glyph."""
    flat = px.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    lum = _linear(flat.astype(float)) @ [0.2126, 0.7152, 0.0722]
    glyph = flat[np.argmax(np.abs(lum - luminance(background)))]
    return contrast(background, glyph)


def test_text_on_highlight_colours_is_readable(app, recording):
    limits = FaultLimits().with_overrides(trunk_behind_vertical=(-5.0, -20.0))  # trunk: cautions only
    session = Session(replay_source(recording, speed=None), exercise="deadlift", settings=Settings(limits=limits))
    win = LiveWindow(session, auto_refresh=False)
    win.show()
    worst = {}
    for _t in step(win, session, recording, every_s=0.25):
        for name, widget in (("cue", win.cue_label), ("calibration", win.calibration_label)):
            if widget.text():
                key = (name, widget.styleSheet())
                if key not in worst:
                    worst[key] = text_contrast(pixels(widget))
    session.finish()
    win.refresh()
    cells = {}
    for row in range(win.table.rowCount()):
        for col in range(win.table.columnCount()):
            item = win.table.item(row, col)
            if item.background().style() != QtCore.Qt.BrushStyle.NoBrush:
                r = win.table.visualItemRect(item)
                cell = pixels(win.table.viewport())[r.top() + 2 : r.bottom() - 1, r.left() + 2 : r.right() - 1]
                cells.setdefault(item.background().color().name(), text_contrast(cell))
    assert len(cells) == 2, cells  # caution and fault cells
    assert len({k for k in worst if k[0] == "cue"}) >= 2  # a caution cue and a fault cue
    for key, ratio in [*worst.items(), *cells.items()]:
        assert ratio >= 4.5, (key, ratio)  # WCAG AA for text
    win.close()


# -- the screenshot of a finished set -----------------------------------------------------------------------
def test_the_screenshot_of_a_finished_set_shows_all_of_it_with_date_athlete_and_file(app, tmp_path):
    sim = simulated(FAULTY)
    path = tmp_path / "monday-set.jsonl"
    info = {s: SensorInfo(HREF.name, HREF.raw_text, f"AA:00:00:00:00:0{k}", rate_hz=sim.rates_hz[s])
            for k, s in enumerate(sim.series)}
    with Recorder(path, sensors=info, exercise="deadlift", label="test", started_at="2030-01-01T12:00:00Z") as rec:
        for p in simulated_packets(sim, {s: HREF for s in sim.series}):
            rec.write_packet(p)
    out = tmp_path / "shot.png"
    session = Session(replay_source(path, speed=None), exercise="deadlift")
    win = run_window(session, screenshot=out, close_when_done=True)
    caption = win.source_label.text()
    assert "2030-01-01" in caption and str(path) in caption and "athlete" not in caption  # none recorded
    assert win.replay_bar.isHidden()  # no play button for a set that is over
    # the last rep was at fault and no rep came after it: its cue stays up
    assert win.cue_text.split("\n")[0] == CUES["trunk_behind_vertical"]
    img = QtGui.QImage(str(out)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    shot = arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3)
    # the plots reach the bottom of the picture (nothing below them), and hold every rep
    top_left = win.graphs.mapTo(win, QtCore.QPoint(0, 0))
    assert img.height() - (top_left.y() + win.graphs.height()) < 20
    graphs = shot[top_left.y() : top_left.y() + win.graphs.height(), top_left.x() : top_left.x() + win.graphs.width()]
    _x, y40 = scene_to_widget(win, "hinge", 0.0, 40.0)
    trunk = colour_mask(graphs, curve_colour(TRUNK))
    assert runs(trunk[: int(y40)].any(axis=0)) == FAULTY.reps
    # an athlete named by the caller is shown
    named = LiveWindow(Session(replay_source(path, speed=None)), auto_refresh=False, athlete="Ann")
    named.refresh()
    assert "athlete Ann" in named.source_label.text()
    named.close()


# -- Qt's own noise --------------------------------------------------------------------------------------
def test_qt_size_hint_noise_is_silenced_and_other_qt_warnings_are_not(app, capfd):
    before = getattr(hinge.window, "qt_noise_dropped", 0)
    widget = QtWidgets.QWidget()
    widget.show()
    QtWidgets.QApplication.processEvents()
    widget.setMinimumSize(300, 200)  # the offscreen platform says it cannot pass size hints on
    widget.setMinimumSize(320, 220)
    QtWidgets.QApplication.processEvents()
    QtCore.qWarning("hinge test: a warning that must still show")
    widget.close()
    err = capfd.readouterr().err
    assert "propagateSizeHints" not in err
    assert "hinge test: a warning that must still show" in err
    assert hinge.window.qt_noise_dropped > before  # the message did come, and was swallowed
