"""The live window (PySide6 + pyqtgraph): angles scrolling, fault limits, reps, cue, sensor status.

The window never receives per-sample signals: a ~30 Hz `QTimer` calls `LiveWindow.refresh`, which
pulls the newest frames, events and status from the `hinge.session.Session` (whose loop runs in its own
thread) and redraws (docs/ARCHITECTURE.md §8). One window class and its widgets (~800 lines, over the
house limit on purpose: the layout, the two plot modes, the markers, the cue and the replay controls
share the same widgets and are read together; the Qt-free parts — colours, contrast, the set's caption
— live in `hinge.ui` and `hinge.sources`). Everything shown is derived from what the session holds, so
`refresh()` can also be called directly (tests step it).

    ┌ calibration ─ sacrum status ─ thoracic status ─── source · date · athlete · file ─── [ ] sound ┐
    │                  CUE TEXT (large, on its colour, until the next rep starts)            │  6 reps │
    │ key: ━ trunk ─ pelvis ─ lumbar · rep markers: ✓ ok  ! caution  ✗ fault  ? not judged           │
    │ trunk / pelvis / lumbar, limit bands, rep markers (live: last 10 s; set over   │ rep table     │
    │ or paused: the whole set, zoom and pan with the mouse)                         │               │
    └ replay: play/pause · speed · timeline (click to seek) — Space pauses, ←/→ seek 5 s ────────────┘
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from hinge.analysis.tracker import Alert, Calibrated, Placement, Remeasured, Rep
from hinge.session import Session, SessionStatus
from hinge.sources import set_caption
from hinge.terminal import REP_COLUMNS, SWAP_STATUS, TerminalView, faults_text, rep_cells
from hinge.ui import (
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    REP_MARKS,
    SEVERITY_COLOURS,
    VERMILLION,
    YELLOW,
    battery_text,
    calibration_text,
    highlight_style,
    rep_mark,
    text_colour_on,
)

log = logging.getLogger(__name__)

WINDOW_S = 10.0
REFRESH_HZ = 30.0
SEEK_STEP_S = 5.0  # the arrow keys seek this far
DRAWN_HZ = 50.0  # the scrolling curves draw at most this many frames a second (body motion: < 5 Hz)
AHEAD_MAX_S = 0.05  # the time axis runs at most this far past the newest frame (stays within _EDGE_S)
SPEEDS = (("0.5×", 0.5), ("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("max", None))

CURVES = (("trunk", 2, BLUE, "hinge"), ("pelvis", 1, ORANGE, "hinge"), ("lumbar", 3, PURPLE, "lumbar"))
"""(name, column in the session's frames, colour, plot). Colour-blind safe (Okabe-Ito): blue / orange."""
CURVE_WIDTHS = {"trunk": 4, "pelvis": 2, "lumbar": 3}
"""Pen widths (px): the trunk stands out from the pelvis by width as well as colour."""
PLOTS = {"hinge": ("trunk and pelvis", (-35.0, 100.0)), "lumbar": ("lumbar (trunk − pelvis)", (-25.0, 40.0))}
"""plot -> (title, y range in degrees)."""
CURVE_OF_KIND = {
    "trunk_behind_vertical": "trunk",
    "posterior_pelvic_tilt": "pelvis",
    "lumbar_hyperextension": "lumbar",
    "lumbar_rounding": "lumbar",
}
MARKER_LINE = "#555555"  # rep markers: dashed lines in one neutral colour; the chip at the top says how the rep went
_MARKER_LABEL_AT = 0.93  # rep chips: this far up the trunk/pelvis plot's y range
_MARKER_SPAN = (0.04, 0.96)  # marker lines span this part of each plot's y range (clear of the axes)
_EDGE_S = 0.1
"""The x axis shows this much more than the data's window on the left: what scrolls stays clear of the
axes (an item whose repaint region touches an axis repaints the axis too: ~10 % of a frame)."""
_BAND_ALPHA = {"caution": 80, "fault": 55}
_BAND_FAR_DEG = 400.0  # the 'fault' band reaches this far beyond its limit (off the plot)
_CALIBRATING = YELLOW  # highlight colours of the calibration label
_CALIBRATED = GREEN
_ERROR = VERMILLION


@dataclass(frozen=True)
class LimitBand:
    """A horizontal band on one plot: values between lo_deg and hi_deg are `severity` for `kinds`."""

    plot: str
    kinds: tuple[str, ...]
    severity: str
    lo_deg: float
    hi_deg: float


def limit_bands(limits: dict[str, tuple[float, float]]) -> list[LimitBand]:
    """Bands for fault limits {kind: (caution_deg, fault_deg)}, on the plot of the kind's curve; kinds
    with equal limits on one plot share a band. A caution band spans caution..fault, a fault band
    spans from the fault limit outwards."""
    plot_of = {name: plot for name, _col, _colour, plot in CURVES}
    groups: dict[tuple[str, float, float], list[str]] = {}
    for kind, pair in limits.items():
        plot = plot_of[CURVE_OF_KIND[kind]]
        groups.setdefault((plot, float(pair[0]), float(pair[1])), []).append(kind)
    bands = []
    for (plot, caution, fault), kinds in groups.items():
        far = fault + (-1.0 if fault < 0 else 1.0) * _BAND_FAR_DEG
        bands.append(LimitBand(plot, tuple(kinds), "caution", min(caution, fault), max(caution, fault)))
        bands.append(LimitBand(plot, tuple(kinds), "fault", min(fault, far), max(fault, far)))
    return bands


class NoneRefGuard:
    """Work-around for PySide6 6.12.0 on Python < 3.12: it drops references to ``None``, ``True`` and
    ``False`` it never took (void methods such as ``QRectF.setTop``, which pyqtgraph calls on every
    paint, and values returned by Python overrides), so a window left open long enough aborts the
    interpreter ("none_dealloc: deallocating None"). Python 3.12+ makes these objects immortal and other
    PySide6 versions do not leak (pin ``PySide6-Essentials!=6.12.0``). `top_up()` (called on every
    refresh) puts back what was lost since the last call; a refcount that is too high harms nothing."""

    def __init__(self) -> None:
        import PySide6

        self.active = sys.version_info < (3, 12) and PySide6.__version__ == "6.12.0"
        self.restored = 0
        self._objects = (None, True, False)
        self._baselines = [sys.getrefcount(o) for o in self._objects]
        if self.active:
            import ctypes

            self._incref = ctypes.pythonapi.Py_IncRef
            self._incref.argtypes = [ctypes.py_object]
            self._incref.restype = ctypes.c_int  # not None: calling it must not touch None itself
            log.warning("PySide6 6.12.0 on Python < 3.12 leaks references; compensating (use another PySide6)")

    def top_up(self) -> None:
        if not self.active:
            return
        for obj, baseline in zip(self._objects, self._baselines, strict=True):
            missing = baseline - sys.getrefcount(obj)
            for _ in range(missing):
                self._incref(obj)
            if missing > 0:
                self.restored += missing


NONE_GUARD = NoneRefGuard()


class Beeper:
    """A short tone (standard library only): a WAV written once, played by the platform's player
    (winsound on Windows; afplay / paplay / aplay where present), else Qt's system beep."""

    def __init__(self, freq_hz: float = 880.0, duration_s: float = 0.18) -> None:
        self._wav = _tone_wav(freq_hz, duration_s)
        self._path: str | None = None
        self.played = 0

    def play(self) -> None:
        self.played += 1
        try:
            if sys.platform == "win32":
                import winsound

                winsound.PlaySound(self._wav, winsound.SND_MEMORY | winsound.SND_ASYNC)
                return
            player = next((p for p in ("afplay", "paplay", "aplay") if shutil.which(p)), None)
            if player is None:
                QtWidgets.QApplication.beep()
                return
            if self._path is None:
                fd, self._path = tempfile.mkstemp(prefix="hinge-cue-", suffix=".wav")
                with os.fdopen(fd, "wb") as f:
                    f.write(self._wav)
            args = [player, "-q", self._path] if player == "aplay" else [player, self._path]
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.debug("cue sound failed: %s", exc)

    def close(self) -> None:
        if self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass
            self._path = None


def _tone_wav(freq_hz: float, duration_s: float, rate: int = 22050) -> bytes:
    n = int(rate * duration_s)
    t = np.arange(n) / rate
    envelope = np.minimum(1.0, np.minimum(t, duration_s - t) / 0.02)  # 20-ms ramps: no clicks
    pcm = (0.5 * 32767 * envelope * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class SeekSlider(QtWidgets.QSlider):
    """The replay timeline: a click on the groove jumps there at once (a plain slider steps a page)
    and emits `clicked` with the value; dragging the handle works as usual."""

    clicked = QtCore.Signal(int)

    def __init__(self) -> None:
        super().__init__(QtCore.Qt.Orientation.Horizontal)

    def value_at(self, x: float) -> int:
        """The value a click at widget x (px) selects: the handle's centre goes there."""
        opt = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(opt)
        style = self.style()
        cc, sc = QtWidgets.QStyle.ComplexControl.CC_Slider, QtWidgets.QStyle.SubControl
        groove = style.subControlRect(cc, opt, sc.SC_SliderGroove, self)
        handle = style.subControlRect(cc, opt, sc.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        pos = int(round(x - groove.x() - handle.width() / 2))
        return QtWidgets.QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), min(max(pos, 0), span), span)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            opt = QtWidgets.QStyleOptionSlider()
            self.initStyleOption(opt)
            handle = self.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                                 QtWidgets.QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(event.position().toPoint()):
                value = self.value_at(event.position().x())
                self.setValue(value)
                self.clicked.emit(value)
                event.accept()
                return
        super().mousePressEvent(event)


class LiveWindow(QtWidgets.QMainWindow):
    """The live / replay window over a `Session` (which the caller starts; closing the window closes
    the session: loop thread stopped, sensors disconnected, recording flushed).

    While the set runs the plots scroll over the last `window_s` seconds; once it has ended, or while a
    replay is paused, they show the whole set (`Session.set_frames`) with every rep's marker, and the
    mouse zooms (wheel) and pans (drag). Keys: Space pauses / resumes a replay, ←/→ seek 5 s.

    Args:
        session: the session to show.
        title: window title.
        duration_s: close after this many seconds (wall clock, from `show`).
        screenshot: save the window as PNG here when it closes.
        close_when_done: close once the session has ended (offscreen runs).
        echo: a `TerminalView` updated on every refresh (offscreen runs print as they go).
        beeper: plays the cue tone when sound is switched on (default `Beeper`).
        auto_refresh: run the ~30 Hz timer (tests call `refresh()` themselves).
        athlete: shown with the date and file (default: the recording header's, if any).
    """

    def __init__(
        self,
        session: Session,
        *,
        title: str = "hinge",
        duration_s: float | None = None,
        screenshot: str | Path | None = None,
        close_when_done: bool = False,
        echo: TerminalView | None = None,
        beeper: Beeper | None = None,
        auto_refresh: bool = True,
        window_s: float = WINDOW_S,
        athlete: str | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.window_s = window_s
        self.duration_s = duration_s
        self.screenshot = Path(screenshot) if screenshot else None
        self.close_when_done = close_when_done
        self.echo = echo
        self.beeper = beeper or Beeper()
        self.caption = set_caption(session.source, session.recorder,
                                   athlete=athlete or getattr(session, "athlete", "") or None)
        self.setWindowTitle(title)
        self.resize(1280, 760)
        self._cursor = 0
        self._generation = session.generation
        self._cues: list[str] = []  # the cues of the rep in progress (one per fault's cue, in order)
        self._cue_severity: str | None = None
        self._cue_clear_after: float | None = None  # the rep the cue belongs to ended here: clear past it
        self._deadline: float | None = None
        self._closed = False
        self.refreshes = 0
        self._marker_t: dict[int, float] = {}  # rep index -> absolute time of its marker (the rep's bottom)
        self._marker_state: dict[int, str] = {}  # rep index -> ok | caution | fault | not judged
        self._marker_chip: dict[int, QtWidgets.QGraphicsRectItem] = {}
        self.t_data = 0.0  # time of the newest frame
        self.t_end = 0.0  # "now" on the plots' x axis (time relative to it): t_data + `_ahead_s()`
        self.overview = False  # the whole set is shown (set over, or paused)
        self._overview_key: tuple[int, int] | None = None  # (generation, frames) drawn in the overview
        self._grid: tuple[float, float, int] | None = None  # scrolling curves: (t0, frame spacing, every nth drawn)
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REFRESH_HZ))
        self.timer.timeout.connect(self.refresh)
        if auto_refresh:
            self.timer.start()

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        central.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)  # keys come here (children take no focus)
        root = QtWidgets.QVBoxLayout(central)
        top = QtWidgets.QHBoxLayout()
        root.addLayout(top)
        self.calibration_label = QtWidgets.QLabel()
        self.calibration_label.setMinimumWidth(190)
        self.calibration_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.calibration_label)
        self.sensor_labels: dict[str, QtWidgets.QLabel] = {}
        for name in self.session.status().sensors:
            label = QtWidgets.QLabel()
            label.setTextFormat(QtCore.Qt.TextFormat.RichText)
            self.sensor_labels[name] = label
            top.addWidget(label)
        top.addStretch(1)
        self.source_label = QtWidgets.QLabel()
        top.addWidget(self.source_label)
        # shown only while the placement check doubts the placement: re-runs the set with the sensors swapped
        self.swap_button = QtWidgets.QPushButton("Swap sensors and re-run")
        self.swap_button.setToolTip("the sacrum sensor inclines more than the thoracic one: they look swapped")
        self.swap_button.clicked.connect(self.session.swap_sensors)
        self.swap_button.setVisible(False)
        top.addWidget(self.swap_button)
        self.sound_box = QtWidgets.QCheckBox("Sound")
        self.sound_box.setChecked(False)
        self.sound_box.setToolTip("play a short tone with each cue")
        top.addWidget(self.sound_box)

        cue_row = QtWidgets.QHBoxLayout()
        root.addLayout(cue_row)
        self.cue_label = QtWidgets.QLabel("")
        font = QtGui.QFont()
        font.setPointSize(26)
        font.setBold(True)
        self.cue_label.setFont(font)
        self.cue_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.cue_label.setWordWrap(True)
        self.cue_label.setMinimumHeight(64)
        cue_row.addWidget(self.cue_label, 1)
        self.rep_count_label = QtWidgets.QLabel()
        self.rep_count_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.rep_count_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.rep_count_label.setMinimumWidth(120)
        self.rep_count_label.setToolTip("reps counted so far")
        cue_row.addWidget(self.rep_count_label)

        self.key_label = QtWidgets.QLabel(_key_html())
        self.key_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        root.addWidget(self.key_label)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.graphs = pg.GraphicsLayoutWidget()
        self.graphs.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        for row, (key, (title, y_range)) in enumerate(PLOTS.items()):
            plot = self.graphs.addPlot(row=row, col=0, title=title)
            plot.setLabel("left", "angle (°)")
            plot.getAxis("left").setWidth(56)  # both plots alike: their time axes (and rep markers) line up
            plot.showGrid(x=False, y=False)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setYRange(*y_range, padding=0)
            plot.setXRange(-self.window_s - _EDGE_S, 0.0, padding=0)  # fixed: data scroll, axes and bands stay cached
            self.plots[key] = plot
        self.plots["lumbar"].setXLink(self.plots["hinge"])
        self.plots["hinge"].hideAxis("bottom")  # one time axis (the lower plot's): half the tick work per frame
        self.plots["lumbar"].setLabel("bottom", "time relative to now (s)")
        self.graphs.ci.layout.setRowStretchFactor(0, 3)
        self.graphs.ci.layout.setRowStretchFactor(1, 2)
        self.bands = limit_bands(self.session.settings.limits.limits)
        self.band_items = []
        for band in self.bands:
            colour = QtGui.QColor(SEVERITY_COLOURS[band.severity])
            colour.setAlpha(_BAND_ALPHA[band.severity])
            item = pg.LinearRegionItem(
                values=(band.lo_deg, band.hi_deg), orientation="horizontal", movable=False,
                brush=pg.mkBrush(colour), pen=pg.mkPen(None),
            )
            item.setZValue(-10)
            item.setToolTip(f"{band.severity}: {', '.join(k.replace('_', ' ') for k in band.kinds)}")
            item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)  # static: painted once
            self.plots[band.plot].addItem(item)
            self.band_items.append(item)
        # Everything that scrolls lives in one group per plot, at absolute session time; a refresh moves
        # the groups by -t_end (one transform each) instead of shifting every curve point and marker.
        self.scroll_groups: dict[str, pg.ItemGroup] = {}
        for key, plot in self.plots.items():
            group = pg.ItemGroup()
            plot.addItem(group, ignoreBounds=True)
            self.scroll_groups[key] = group
        self.curves: dict[str, pg.PlotCurveItem] = {}
        self.overview_curves: dict[str, pg.PlotDataItem] = {}
        for name, _col, colour, plot in CURVES:
            # no antialiasing: the cheapest paint (bench/live_latency.py), and exact colours on screen
            pen = pg.mkPen(colour, width=CURVE_WIDTHS[name])
            curve = pg.PlotCurveItem(pen=pen, antialias=False, skipFiniteCheck=True)
            curve.setParentItem(self.scroll_groups[plot])
            self.curves[name] = curve
            # the whole set: drawn at absolute time, thinned to what the pixels can show (peaks kept)
            whole = pg.PlotDataItem(pen=pen, antialias=False, skipFiniteCheck=True)
            whole.setDownsampling(auto=True, method="peak")
            whole.setClipToView(True)
            whole.setVisible(False)
            self.plots[plot].addItem(whole, ignoreBounds=True)
            self.overview_curves[name] = whole
        # rep markers: one dashed 'pairs' curve per plot, rebuilt only when a marker comes or goes
        self.marker_curves: dict[str, pg.PlotCurveItem] = {}
        for key in self.plots:
            pen = pg.mkPen(MARKER_LINE, width=2, style=QtCore.Qt.PenStyle.DashLine)  # whole pixels: every line alike
            curve = pg.PlotCurveItem(pen=pen, antialias=False, connect="pairs", skipFiniteCheck=True)
            curve.setParentItem(self.scroll_groups[key])
            self.marker_curves[key] = curve
        self._chip_font = QtGui.QFont()
        self._chip_font.setPointSize(11)
        self._chip_font.setBold(True)
        split.addWidget(self.graphs)

        self.table = QtWidgets.QTableWidget(0, len(REP_COLUMNS))
        self.table.setHorizontalHeaderLabels([h.replace(" ", "\n") for h, _ in REP_COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumWidth(400)
        self.table.setToolTip("one row per rep; yellow: caution, red: fault (hover a row for the faults)")
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        root.addWidget(split, 1)

        self.has_replay_bar = False
        if self.session.controllable:
            self._build_replay_bar(root)
        for widget in central.findChildren(QtWidgets.QWidget):
            widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Space and the arrows always reach the window
        self.setCentralWidget(central)
        central.setFocus()
        self._show_status(self.session.status())

    def _build_replay_bar(self, root: QtWidgets.QVBoxLayout) -> None:
        self.replay_bar = QtWidgets.QWidget()
        bar = QtWidgets.QHBoxLayout(self.replay_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.replay_bar)
        self.play_button = QtWidgets.QPushButton("Pause")
        self.play_button.setToolTip("pause / play (Space)")
        self.play_button.clicked.connect(self._toggle_play)
        bar.addWidget(self.play_button)
        self.speed_box = QtWidgets.QComboBox()
        for text, _speed in SPEEDS:
            self.speed_box.addItem(text)
        speed = self.session.status().speed
        self.speed_box.setCurrentIndex(next((i for i, (_, v) in enumerate(SPEEDS) if v == speed), 1))
        self.speed_box.currentIndexChanged.connect(self._speed_chosen)
        bar.addWidget(self.speed_box)
        self.timeline = SeekSlider()
        duration = self.session.status().duration_s or 0.0
        self.timeline.setRange(0, max(1, int(math.ceil(duration * 10))))
        self.timeline.setToolTip(f"click or drag to seek (← / → : {SEEK_STEP_S:g} s)")
        self.timeline.sliderReleased.connect(self._timeline_released)
        self.timeline.clicked.connect(self._timeline_released)
        bar.addWidget(self.timeline, 1)
        self.time_label = QtWidgets.QLabel()
        bar.addWidget(self.time_label)
        self.has_replay_bar = True

    # -- controls ------------------------------------------------------------------------------------
    def _toggle_play(self) -> None:
        if self.session.status().paused:
            self.session.resume()
            self.play_button.setText("Pause")
        else:
            self.session.pause()
            self.play_button.setText("Play")

    def _speed_chosen(self, index: int) -> None:
        self.session.set_speed(SPEEDS[index][1])

    def _timeline_released(self, *_value: int) -> None:
        self.seek(self.timeline.value() / 10.0)

    def seek(self, t_s: float) -> None:
        self.session.seek(t_s)

    def seek_by(self, dt_s: float) -> None:
        """Seek from the replay's position (clipped to the recording)."""
        st = self.session.status()
        if st.duration_s is None:
            return
        self.seek(min(max(0.0, (st.position_s or 0.0) + dt_s), st.duration_s))

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt API
        key = event.key()
        keys = QtCore.Qt.Key
        if self.has_replay_bar and not self.session.done and key in (keys.Key_Space, keys.Key_Left, keys.Key_Right):
            if key == keys.Key_Space:
                self._toggle_play()
            else:
                self.seek_by(SEEK_STEP_S if key == keys.Key_Right else -SEEK_STEP_S)
            event.accept()
            return
        super().keyPressEvent(event)

    # -- the pull ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pull from the session and redraw (the timer calls this ~30 times a second)."""
        NONE_GUARD.top_up()
        s = self.session
        self.refreshes += 1
        if s.generation != self._generation:
            self._reset_views()
        st = s.status()
        if st.paused or s.done:
            self._show_whole_set()
        else:
            if self.overview:
                self._leave_whole_set()
            self._scroll()
        events, self._cursor = s.events_since(self._cursor)
        for item in events:
            self._on_event(item.event)
        if self._cue_clear_after is not None and self.t_data > self._cue_clear_after:
            self._set_cue([], None)  # a frame past the rep's end: the next rep has started
        st = s.status()
        self._show_status(st)
        if self.echo is not None:
            self.echo.update()
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.close()
        elif self.close_when_done and s.done:
            self.close()

    def _scroll(self) -> None:
        """Live: the last `window_s` of frames, "now" at the right edge."""
        frames = self.session.frames(self.window_s)
        if not len(frames):
            return
        t_data = float(frames[-1, 0])
        if t_data != self.t_data:
            self.t_data = t_data
            shown = frames[self._drawn_rows(frames[:, 0])]
            for name, col, _colour, _plot in CURVES:
                self.curves[name].setData(shown[:, 0], shown[:, col])
            self._drop_old_markers(t_data - self.window_s)
        t_end = t_data + self._ahead_s()
        if t_end != self.t_end:
            self.t_end = t_end
            for group in self.scroll_groups.values():
                group.setPos(-t_end, 0.0)

    def _drawn_rows(self, t: np.ndarray) -> np.ndarray | slice:
        """The frames the scrolling curves draw: at most `DRAWN_HZ` a second (wide pens cost Qt in
        proportion to the segments: at 200 Hz all frames would double the repaint), on a grid fixed in
        set time so the same frames stay drawn as the plot scrolls, and always the newest."""
        if len(t) < 3:
            return slice(None)
        if self._grid is None:
            dt = float(np.median(np.diff(t)))
            self._grid = (float(t[0]), dt, max(1, int(1.0 / (DRAWN_HZ * dt) + 1e-6)) if dt > 0 else 1)
        t0, dt, step = self._grid
        if step == 1:
            return slice(None)
        rows = np.flatnonzero(np.floor((t - t0) / dt + 0.5).astype(np.int64) % step == 0)
        return rows if len(rows) and rows[-1] == len(t) - 1 else np.append(rows, len(t) - 1)

    def _show_whole_set(self) -> None:
        """Set over or paused: every frame and every rep's marker at set time; the mouse zooms and pans."""
        frames, n = self.session.set_frames()
        key = (self._generation, n)
        if not self.overview:
            self.overview = True
            self._overview_key = None
            for curve in self.curves.values():
                curve.setVisible(False)
            for group in self.scroll_groups.values():
                group.setPos(0.0, 0.0)
            self.t_end = math.nan
            for plot in self.plots.values():
                plot.setMouseEnabled(x=True, y=True)
            self.plots["lumbar"].setLabel("bottom", "time in the set (s) · wheel: zoom · drag: pan")
        if key == self._overview_key:
            return
        self._overview_key = key
        for name, col, _colour, _plot in CURVES:
            self.overview_curves[name].setData(frames[:, 0], frames[:, col])
            self.overview_curves[name].setVisible(True)
        for rep in self.session.reps:
            if int(rep["index"]) not in self._marker_t:
                self._add_marker(rep)
        if len(frames):
            t0, t1 = float(frames[0, 0]), float(frames[-1, 0])
            self.t_data = max(self.t_data, t1)
            margin = max(0.5, 0.02 * (t1 - t0))
            for key_, plot in self.plots.items():
                lo, hi = PLOTS[key_][1]
                plot.setLimits(xMin=t0 - margin, xMax=t1 + margin, yMin=lo, yMax=hi)
            self.plots["hinge"].setXRange(t0 - margin, t1 + margin, padding=0)

    def _leave_whole_set(self) -> None:
        self.overview = False
        self._overview_key = None
        for curve in self.overview_curves.values():
            curve.setVisible(False)
            curve.setData([], [])
        for curve in self.curves.values():
            curve.setVisible(True)
        for key, plot in self.plots.items():
            plot.setMouseEnabled(x=False, y=False)
            plot.setLimits(xMin=None, xMax=None, yMin=None, yMax=None)
            plot.setYRange(*PLOTS[key][1], padding=0)
        self.plots["hinge"].setXRange(-self.window_s - _EDGE_S, 0.0, padding=0)
        self.plots["lumbar"].setLabel("bottom", "time relative to now (s)")
        self._drop_old_markers(self.t_data - self.window_s)
        self.t_data = self.t_end = math.nan  # the next frames redraw and reposition everything

    def _ahead_s(self) -> float:
        """How far "now" is past the newest frame: the session time since it came, at the stream's speed,
        up to `AHEAD_MAX_S`. Frames come in rounds (every 20–40 ms as BLE delivers packets); moving the
        time axis with the clock in between scrolls the plots smoothly at the refresh rate."""
        s = self.session
        st = s.status()
        speed = st.speed
        if speed is None or st.paused or s.done or s.frames_at is None:
            return 0.0
        return min(AHEAD_MAX_S, max(0.0, (s.now() - s.frames_at) * speed))

    def _reset_views(self) -> None:
        self._generation = self.session.generation
        self._cursor = 0
        self.table.setRowCount(0)
        for index in list(self._marker_t):
            self._remove_marker(index)
        self._set_cue([], None)
        for curve in self.curves.values():
            curve.setData([], [])
        self.t_data = self.t_end = 0.0
        self._overview_key = None
        self._grid = None

    def _on_event(self, ev) -> None:
        if isinstance(ev, Alert):
            if self._cue_clear_after is not None:  # the rep the cue was for is over: this alert is the next rep's
                self._cues, self._cue_severity = [], None
            cues = self._cues if ev.cue in self._cues else [*self._cues, ev.cue]
            worst = "fault" if "fault" in (ev.severity, self._cue_severity) else ev.severity
            self._set_cue(cues, worst)
            if self.sound_box.isChecked():
                self.beeper.play()
        elif isinstance(ev, Rep):
            self._add_rep(ev.rep)
            if self._cues:
                self._cue_clear_after = float(ev.t)  # the rep's end (unrounded): where the next rep starts
        elif isinstance(ev, Remeasured):  # its row and marker, redrawn with the new figures
            self._add_rep(ev.rep, again=True)
        elif isinstance(ev, Placement) and ev.swap_suspected:
            self._set_cue([SWAP_STATUS], "caution")
        elif isinstance(ev, Calibrated):
            pass  # shown from the status

    def _set_cue(self, cues: list[str], severity: str | None) -> None:
        """Show the rep's cues (one line each), on their severity's colour; [] clears."""
        self._cues, self._cue_severity, self._cue_clear_after = list(cues), severity, None
        colour = SEVERITY_COLOURS.get(severity or "")
        style = highlight_style(colour, "padding: 4px 12px;") if cues and colour else "background: transparent;"
        self._put(self.cue_label, "\n".join(cues), style)

    @property
    def cue_text(self) -> str:
        return self.cue_label.text()

    def _add_rep(self, rep: dict, again: bool = False) -> None:
        """A finished rep's row in the table and its marker; `again`: a rep measured again after a data hole
        replaces its row (the rows are the reps in order)."""
        row = int(rep["index"]) - 1 if again else self.table.rowCount()
        if not again:
            self.table.insertRow(row)
        note = "\nmeasured again after a data hole" if again else ""
        for col, (text, severity) in enumerate(rep_cells(rep)):
            item = QtWidgets.QTableWidgetItem(text)
            item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            if severity:
                item.setBackground(QtGui.QColor(SEVERITY_COLOURS[severity]))
                item.setForeground(QtGui.QColor(text_colour_on(SEVERITY_COLOURS[severity])))
            item.setToolTip(faults_text(rep) + note)
            self.table.setItem(row, col, item)
        if not again:
            self.table.scrollToBottom()
        self._add_marker(rep)

    def _add_marker(self, rep: dict) -> None:
        """A dashed line at the rep's bottom on both plots, and a chip "#n ✓" in its state's colour."""
        index, t = int(rep["index"]), float(rep["bottom_s"])
        if index in self._marker_t:
            self._remove_marker(index)
        state = rep_mark(rep)
        sign, colour = REP_MARKS[state]
        chip = QtWidgets.QGraphicsRectItem()
        chip.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)  # pixels, not degrees
        text = QtWidgets.QGraphicsSimpleTextItem(f"#{index} {sign}", chip)
        text.setFont(self._chip_font)
        text.setBrush(QtGui.QColor(text_colour_on(colour)))
        text.setPos(6.0, 1.0)  # just right of its line
        chip.setRect(text.mapRectToParent(text.boundingRect()).adjusted(-3.0, -1.0, 3.0, 1.0))
        chip.setBrush(QtGui.QColor(colour))
        chip.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
        chip.setToolTip(f"rep {index}: {state}")
        chip.setParentItem(self.scroll_groups["hinge"])
        lo, hi = PLOTS["hinge"][1]
        chip.setPos(t, lo + _MARKER_LABEL_AT * (hi - lo))
        self._marker_t[index] = t
        self._marker_state[index] = state
        self._marker_chip[index] = chip
        self._draw_markers()

    def _draw_markers(self) -> None:
        """Redraw the marker lines (each plot: one vertical segment per rep)."""
        t = np.array(list(self._marker_t.values()))
        for key, (_title, (lo, hi)) in PLOTS.items():
            ends = [lo + f * (hi - lo) for f in _MARKER_SPAN]
            self.marker_curves[key].setData(np.repeat(t, 2), np.tile(ends, len(t)))

    def marker_times(self) -> dict[int, float]:
        """Rep index -> time (s) of its marker (the rep's bottom), for the markers on screen."""
        return dict(self._marker_t)

    def marker_states(self) -> dict[int, str]:
        """Rep index -> how its marker reads (ok | caution | fault | not judged), for the markers on screen."""
        return dict(self._marker_state)

    def drawn(self, item: QtWidgets.QGraphicsItem) -> tuple[np.ndarray, np.ndarray]:
        """What a scrolling curve (a curve or a marker curve) draws, in its plot's coordinates: x is time
        relative to the newest frame (s), y degrees."""
        x, y = item.getData()
        if x is None:
            return np.zeros(0), np.zeros(0)
        return x + item.parentItem().pos().x(), y

    def _remove_marker(self, index: int) -> None:
        self._marker_t.pop(index)
        self._marker_state.pop(index)
        chip = self._marker_chip.pop(index)
        chip.setParentItem(None)
        if chip.scene() is not None:
            chip.scene().removeItem(chip)
        self._draw_markers()

    def _drop_old_markers(self, t_min: float) -> None:
        for index, t in list(self._marker_t.items()):
            if t < t_min:
                self._remove_marker(index)

    @staticmethod
    def _put(label: QtWidgets.QLabel | QtWidgets.QPushButton, text: str, style: str | None = None) -> None:
        """Set a text (and style sheet) only when it changed: re-polishing a widget is not free."""
        if label.text() != text:
            label.setText(text)
        if style is not None and label.styleSheet() != style:
            label.setStyleSheet(style)

    def _show_status(self, st: SessionStatus) -> None:
        pad = "padding: 4px;"
        if st.state == "error":
            self._put(self.calibration_label, f"Error: {st.error}", highlight_style(_ERROR, pad))
        elif st.calibrated:
            done = " · set finished" if st.state in ("finished", "stopped") else ""
            # a provisional zero says so until a still period refines it
            colour = _CALIBRATED if st.calibration == "ok" else _CALIBRATING
            self._put(self.calibration_label, f"{calibration_text(st)}{done}", highlight_style(colour, pad))
        else:
            self._put(self.calibration_label, "Stand still…", highlight_style(_CALIBRATING, pad))
        if st.swap_suspected:
            self._put(self.calibration_label, SWAP_STATUS, highlight_style(VERMILLION, pad))
        if st.check:  # the start-up check's instruction or countdown (hinge.placement)
            self._put(self.calibration_label, st.check, highlight_style(_CALIBRATING, pad))
        if self.swap_button.isHidden() == st.swap_suspected:
            self.swap_button.setVisible(st.swap_suspected)
        for name, s in st.sensors.items():
            dot = GREEN if s.connected else VERMILLION
            battery = f" · {battery_text(s.battery)}" if battery_text(s.battery) else ""
            dropped = f" · dropped {s.dropped_packets}" if s.dropped_packets else ""
            self._put(self.sensor_labels[name], f"<span style='color:{dot}'>●</span> <b>{name}</b> "
                                                f"{s.rate_hz:.0f} Hz · lost {s.lost_samples}{dropped}{battery}")
        self._put(self.source_label, f"{st.source} · {self.caption}")
        self._put(self.rep_count_label, f"<div style='font-size:40pt; font-weight:700'>{st.reps}</div>"
                                        f"<div style='font-size:12pt'>{'rep' if st.reps == 1 else 'reps'}</div>")
        if self.has_replay_bar:
            over = self.session.done  # nothing left to play: the bar goes (and stays out of screenshots)
            if self.replay_bar.isHidden() != over:
                self.replay_bar.setHidden(over)
            if not over and st.duration_s is not None:
                if not self.timeline.isSliderDown() and st.position_s is not None:
                    self.timeline.setValue(int(st.position_s * 10))
                self._put(self.time_label, f"{st.position_s or 0.0:5.1f} / {st.duration_s:.1f} s")
                self._put(self.play_button, "Play" if st.paused else "Pause")

    # -- lifecycle -----------------------------------------------------------------------------------
    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt API
        if self.duration_s is not None and self._deadline is None:
            self._deadline = time.monotonic() + self.duration_s
        super().showEvent(event)

    def save_screenshot(self, path: str | Path) -> bool:
        """Save the window as PNG (works offscreen)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.centralWidget().layout().activate()  # labels whose text changed since the last layout pass
        QtWidgets.QApplication.processEvents()
        return bool(self.grab().save(str(path), "PNG"))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._closed:
            self._closed = True
            self.timer.stop()
            try:
                self.session.close()  # first: the set is over, so the last pull (and screenshot) shows all of it
                self.refresh_final()
            finally:
                self.beeper.close()
        super().closeEvent(event)

    def refresh_final(self) -> None:
        """Last pull (without closing again) and the screenshot, if asked for."""
        deadline, self._deadline, done, self.close_when_done = self._deadline, None, self.close_when_done, False
        try:
            self.refresh()
        finally:
            self._deadline, self.close_when_done = deadline, done
        if self.screenshot is not None:
            if self.save_screenshot(self.screenshot):
                log.info("screenshot saved: %s", self.screenshot)
            else:
                log.warning("could not save the screenshot %s", self.screenshot)


def _key_html() -> str:
    """The key above the plots: each curve's colour and weight, and what a rep marker's chip says."""
    curves = " &nbsp; ".join(
        f"<span style='color:{colour}; font-weight:{900 if CURVE_WIDTHS[name] >= 4 else 400}'>"
        f"{'━━━' if CURVE_WIDTHS[name] >= 4 else '───'}</span> {name}"
        for name, _col, colour, _plot in CURVES
    )
    chips = " ".join(
        f"<span style='background:{colour}; color:{text_colour_on(colour)}; font-weight:700'>"
        f"&nbsp;{sign} {state}&nbsp;</span>"
        for state, (sign, colour) in REP_MARKS.items()
    )
    return f"<span style='font-size:12pt'>{curves} &nbsp;&nbsp;&nbsp; rep markers: {chips}</span>"


_APP: QtWidgets.QApplication | None = None
QT_NOISE = ("propagateSizeHints",)
"""Qt messages not worth a line (the offscreen platform says it cannot pass size hints on every run)."""
qt_noise_dropped = 0  # how many such messages were swallowed
_HANDLER_INSTALLED = False


def _qt_message(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
    """Qt's messages, as Qt itself prints them, less the `QT_NOISE`."""
    global qt_noise_dropped
    if any(noise in message for noise in QT_NOISE):
        qt_noise_dropped += 1
        return
    if sys.stderr is not None:
        sys.stderr.write(QtCore.qFormatLogMessage(mode, context, message) + "\n")


def application() -> QtWidgets.QApplication:
    """The process's QApplication (created once and kept: Qt objects must not outlive it)."""
    global _APP, _HANDLER_INSTALLED
    if not _HANDLER_INSTALLED:
        QtCore.qInstallMessageHandler(_qt_message)
        _HANDLER_INSTALLED = True
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = _APP = QtWidgets.QApplication([sys.argv[0]])
    return app


def run_window(session: Session, *, title: str = "hinge", duration_s: float | None = None,
               screenshot: str | Path | None = None, close_when_done: bool = False,
               echo: bool = False) -> LiveWindow:
    """Start the session's loop thread, show the window and run Qt until it closes."""
    import signal

    app = application()
    win = LiveWindow(session, title=title, duration_s=duration_s, screenshot=screenshot,
                     close_when_done=close_when_done, echo=TerminalView(session) if echo else None)
    previous = signal.signal(signal.SIGINT, lambda *_: win.close())  # Ctrl-C closes cleanly
    try:
        session.start()
        win.show()
        if not win._closed:
            app.exec()
    finally:
        signal.signal(signal.SIGINT, previous)
        win.close()
        session.close()
    return win
