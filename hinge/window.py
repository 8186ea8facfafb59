"""The live window (PySide6 + pyqtgraph): angles scrolling, fault limits, reps, cue, sensor status.

The window never receives per-sample signals: a ~30 Hz `QTimer` calls `LiveWindow.refresh`, which
pulls the newest frames, events and status from the `hinge.session.Session` (whose loop runs in its own
thread) and redraws (docs/ARCHITECTURE.md §8). One window class and its widgets (~630 lines: the
layout, the plots and the replay bar read together). Everything shown is derived from what the session holds,
so `refresh()` can also be called directly (tests step it).

    ┌ calibration ─ sacrum status ─ thoracic status ───────────── [ ] sound ┐
    │                     CUE TEXT (large, when an alert arrives)            │
    │ trunk / pelvis / lumbar, last 10 s, limit bands, rep markers │ rep table │
    └ replay: play/pause · speed · timeline ────────────────────────────────┘
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

from hinge.analysis.faults import FAULTS
from hinge.analysis.tracker import Alert, Calibrated, Placement, Rep
from hinge.session import Session, SessionStatus
from hinge.terminal import REP_COLUMNS, SWAP_STATUS, TerminalView, faults_text, rep_cells
from hinge.ui import battery_text, calibration_text

log = logging.getLogger(__name__)

WINDOW_S = 10.0
REFRESH_HZ = 30.0
CUE_HOLD_S = 5.0  # data seconds a cue stays up
AHEAD_MAX_S = 0.05  # the time axis runs at most this far past the newest frame (stays within _EDGE_S)
SPEEDS = (("0.5×", 0.5), ("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("max", None))

CURVES = (("trunk", 2, "#1f77b4", "hinge"), ("pelvis", 1, "#2ca02c", "hinge"), ("lumbar", 3, "#9467bd", "lumbar"))
"""(name, column in the session's frames, colour, plot)."""
PLOTS = {"hinge": ("trunk and pelvis", (-35.0, 100.0)), "lumbar": ("lumbar (trunk − pelvis)", (-25.0, 40.0))}
"""plot -> (title, y range in degrees)."""
CURVE_OF_KIND = {
    "trunk_behind_vertical": "trunk",
    "posterior_pelvic_tilt": "pelvis",
    "lumbar_hyperextension": "lumbar",
    "lumbar_rounding": "lumbar",
}
SEVERITY_COLOURS = {"caution": "#f0a500", "fault": "#d62728"}
_MARKER_COLOURS = ("#7f7f7f", SEVERITY_COLOURS["caution"], SEVERITY_COLOURS["fault"])  # no fault, caution, fault
_MARKER_LABEL_AT = 0.93  # rep-number labels: this far up the trunk/pelvis plot's y range
_MARKER_SPAN = (0.04, 0.96)  # marker lines span this part of each plot's y range (clear of the axes)
_EDGE_S = 0.1
"""The x axis shows this much more than the data's window on the left: what scrolls stays clear of the
axes (an item whose repaint region touches an axis repaints the axis too: ~10 % of a frame)."""
_BAND_BRUSH = {"caution": (240, 165, 0, 50), "fault": (214, 39, 40, 45)}
_BAND_FAR_DEG = 400.0  # the 'fault' band reaches this far beyond its limit (off the plot)


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


class LiveWindow(QtWidgets.QMainWindow):
    """The live / replay window over a `Session` (which the caller starts; closing the window closes
    the session: loop thread stopped, sensors disconnected, recording flushed).

    Args:
        session: the session to show.
        title: window title.
        duration_s: close after this many seconds (wall clock, from `show`).
        screenshot: save the window as PNG here when it closes.
        close_when_done: close once the session has ended (offscreen runs).
        echo: a `TerminalView` updated on every refresh (offscreen runs print as they go).
        beeper: plays the cue tone when sound is switched on (default `Beeper`).
        auto_refresh: run the ~30 Hz timer (tests call `refresh()` themselves).
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
    ) -> None:
        super().__init__()
        self.session = session
        self.window_s = window_s
        self.duration_s = duration_s
        self.screenshot = Path(screenshot) if screenshot else None
        self.close_when_done = close_when_done
        self.echo = echo
        self.beeper = beeper or Beeper()
        self.setWindowTitle(title)
        self.resize(1280, 760)
        self._cursor = 0
        self._generation = session.generation
        self._cue_until: float | None = None
        self._deadline: float | None = None
        self._closed = False
        self.refreshes = 0
        self._marker_t: dict[int, float] = {}  # rep index -> absolute time of its marker (the rep's bottom)
        self._marker_colour: dict[int, str] = {}
        self._marker_label: dict[int, QtWidgets.QGraphicsSimpleTextItem] = {}
        self.t_data = 0.0  # time of the newest frame
        self.t_end = 0.0  # "now" on the plots' x axis (time relative to it): t_data + `_ahead_s()`
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REFRESH_HZ))
        self.timer.timeout.connect(self.refresh)
        if auto_refresh:
            self.timer.start()

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
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

        self.cue_label = QtWidgets.QLabel("")
        font = QtGui.QFont()
        font.setPointSize(26)
        font.setBold(True)
        self.cue_label.setFont(font)
        self.cue_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.cue_label.setMinimumHeight(64)
        root.addWidget(self.cue_label)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.graphs = pg.GraphicsLayoutWidget()
        self.graphs.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        for row, (key, (title, y_range)) in enumerate(PLOTS.items()):
            plot = self.graphs.addPlot(row=row, col=0, title=title)
            plot.setLabel("left", "angle (°)")
            plot.getAxis("left").setWidth(54)  # equal widths keep both time axes aligned
            for side in ("left", "bottom"):  # ticks outside the plot: the axes stay clear of what scrolls
                plot.getAxis(side).setStyle(tickLength=5)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setYRange(*y_range, padding=0)
            plot.setXRange(-self.window_s - _EDGE_S, 0.0, padding=0)  # fixed: data scroll, axes and bands stay cached
            plot.addLegend(offset=(10, 5))
            self.plots[key] = plot
        self.plots["lumbar"].setXLink(self.plots["hinge"])
        self.plots["hinge"].hideAxis("bottom")  # one time axis (the lower plot's): half the tick work per frame
        self.plots["lumbar"].setLabel("bottom", "time relative to now (s)")
        self.graphs.ci.layout.setRowStretchFactor(0, 3)
        self.graphs.ci.layout.setRowStretchFactor(1, 2)
        self.bands = limit_bands(self.session.settings.limits.limits)
        self.band_items = []
        for band in self.bands:
            item = pg.LinearRegionItem(
                values=(band.lo_deg, band.hi_deg), orientation="horizontal", movable=False,
                brush=pg.mkBrush(*_BAND_BRUSH[band.severity]), pen=pg.mkPen(None),
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
        for name, _col, colour, plot in CURVES:
            # 1-px pens, no antialiasing: the cheapest paint (bench/live_latency.py)
            curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), antialias=False, skipFiniteCheck=True)
            curve.setParentItem(self.scroll_groups[plot])
            self.plots[plot].legend.addItem(curve, name)
            self.curves[name] = curve
        # rep markers: one dashed 'pairs' curve per plot and colour, rebuilt only when a marker comes or goes
        self.marker_curves: dict[tuple[str, str], pg.PlotCurveItem] = {}
        for key in self.plots:
            for colour in _MARKER_COLOURS:
                pen = pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DashLine)  # whole pixels: every line alike
                curve = pg.PlotCurveItem(pen=pen, antialias=False, connect="pairs", skipFiniteCheck=True)
                curve.setParentItem(self.scroll_groups[key])
                self.marker_curves[(key, colour)] = curve
        split.addWidget(self.graphs)

        self.table = QtWidgets.QTableWidget(0, len(REP_COLUMNS))
        self.table.setHorizontalHeaderLabels([h.replace(" ", "\n") for h, _ in REP_COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumWidth(400)
        self.table.setToolTip("one row per rep; amber: caution, red: fault (hover a row for the faults)")
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        root.addWidget(split, 1)

        self.has_replay_bar = False
        if self.session.controllable:
            self._build_replay_bar(root)
        self.setCentralWidget(central)
        self._show_status(self.session.status())

    def _build_replay_bar(self, root: QtWidgets.QVBoxLayout) -> None:
        bar = QtWidgets.QHBoxLayout()
        root.addLayout(bar)  # attach first: the widgets below get their parent at once
        self.play_button = QtWidgets.QPushButton("Pause")
        self.play_button.clicked.connect(self._toggle_play)
        bar.addWidget(self.play_button)
        self.speed_box = QtWidgets.QComboBox()
        for text, _speed in SPEEDS:
            self.speed_box.addItem(text)
        speed = self.session.status().speed
        self.speed_box.setCurrentIndex(next((i for i, (_, v) in enumerate(SPEEDS) if v == speed), 1))
        self.speed_box.currentIndexChanged.connect(self._speed_chosen)
        bar.addWidget(self.speed_box)
        self.timeline = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        duration = self.session.status().duration_s or 0.0
        self.timeline.setRange(0, max(1, int(math.ceil(duration * 10))))
        self.timeline.sliderReleased.connect(self._timeline_released)
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

    def _timeline_released(self) -> None:
        self.seek(self.timeline.value() / 10.0)

    def seek(self, t_s: float) -> None:
        self.session.seek(t_s)

    # -- the pull ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pull from the session and redraw (the timer calls this ~30 times a second)."""
        NONE_GUARD.top_up()
        s = self.session
        self.refreshes += 1
        if s.generation != self._generation:
            self._reset_views()
        frames = s.frames(self.window_s)
        if len(frames):
            t_data = float(frames[-1, 0])
            if t_data != self.t_data:
                self.t_data = t_data
                for name, col, _colour, _plot in CURVES:
                    self.curves[name].setData(frames[:, 0], frames[:, col])
                self._drop_old_markers(t_data - self.window_s)
                if self._cue_until is not None and t_data > self._cue_until:
                    self._set_cue("", None)
            t_end = t_data + self._ahead_s()
            if t_end != self.t_end:
                self.t_end = t_end
                for group in self.scroll_groups.values():
                    group.setPos(-t_end, 0.0)
        events, self._cursor = s.events_since(self._cursor)
        for item in events:
            self._on_event(item.event)
        st = s.status()
        self._show_status(st)
        if self.echo is not None:
            self.echo.update()
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.close()
        elif self.close_when_done and s.done:
            self.close()

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
        self._set_cue("", None)
        for curve in self.curves.values():
            curve.setData([], [])
        self.t_data = self.t_end = 0.0

    def _on_event(self, ev) -> None:
        if isinstance(ev, Alert):
            self._set_cue(ev.cue, ev.severity, until=ev.t + CUE_HOLD_S)
            if self.sound_box.isChecked():
                self.beeper.play()
        elif isinstance(ev, Rep):
            self._add_rep(ev.rep)
            worst = _worst_fault(ev.rep)
            if worst is not None:
                self._set_cue(FAULTS[worst["kind"]][1], worst["severity"], until=ev.t + CUE_HOLD_S)
        elif isinstance(ev, Placement) and ev.swap_suspected:
            self._set_cue(f"{SWAP_STATUS}", "caution", until=ev.t + CUE_HOLD_S)
        elif isinstance(ev, Calibrated):
            pass  # shown from the status

    def _set_cue(self, text: str, severity: str | None, until: float | None = None) -> None:
        self._put(self.cue_label, text, f"color: {SEVERITY_COLOURS.get(severity or '', '#444444')};")
        self._cue_until = until if text else None

    @property
    def cue_text(self) -> str:
        return self.cue_label.text()

    def _add_rep(self, rep: dict) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, (text, severity) in enumerate(rep_cells(rep)):
            item = QtWidgets.QTableWidgetItem(text)
            item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            if severity:
                item.setBackground(QtGui.QColor(SEVERITY_COLOURS[severity]))
                item.setForeground(QtGui.QColor("white"))
            item.setToolTip(faults_text(rep))
            self.table.setItem(row, col, item)
        self.table.scrollToBottom()
        worst = _worst_fault(rep)
        colour = SEVERITY_COLOURS[worst["severity"]] if worst else _MARKER_COLOURS[0]
        index, t = int(rep["index"]), float(rep["bottom_s"])
        lo, hi = PLOTS["hinge"][1]
        label = QtWidgets.QGraphicsSimpleTextItem(f"#{index}")
        label.setBrush(QtGui.QColor(colour))
        label.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)  # pixels, not degrees
        label.setTransform(QtGui.QTransform.fromTranslate(3.0, 0.0))  # just right of its line
        label.setParentItem(self.scroll_groups["hinge"])
        label.setPos(t, lo + _MARKER_LABEL_AT * (hi - lo))
        self._marker_t[index] = t
        self._marker_colour[index] = colour
        self._marker_label[index] = label
        self._draw_markers(colour)

    def _draw_markers(self, colour: str) -> None:
        """Redraw the marker lines of one colour (each plot: one vertical segment per rep)."""
        t = np.array([t for i, t in self._marker_t.items() if self._marker_colour[i] == colour])
        for key, (_title, (lo, hi)) in PLOTS.items():
            ends = [lo + f * (hi - lo) for f in _MARKER_SPAN]
            self.marker_curves[(key, colour)].setData(np.repeat(t, 2), np.tile(ends, len(t)))

    def marker_times(self) -> dict[int, float]:
        """Rep index -> time (s) of its marker (the rep's bottom), for the markers on screen."""
        return dict(self._marker_t)

    def drawn(self, item: QtWidgets.QGraphicsItem) -> tuple[np.ndarray, np.ndarray]:
        """What a scrolling curve (a curve or a marker curve) draws, in its plot's coordinates: x is time
        relative to the newest frame (s), y degrees."""
        x, y = item.getData()
        if x is None:
            return np.zeros(0), np.zeros(0)
        return x + item.parentItem().pos().x(), y

    def _remove_marker(self, index: int) -> None:
        self._marker_t.pop(index)
        label = self._marker_label.pop(index)
        label.setParentItem(None)
        if label.scene() is not None:
            label.scene().removeItem(label)
        self._draw_markers(self._marker_colour.pop(index))

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
        if st.state == "error":
            self._put(self.calibration_label, f"Error: {st.error}", "background: #d62728; color: white; padding: 4px;")
        elif st.calibrated:
            done = " · set finished" if st.state in ("finished", "stopped") else ""
            text, style = calibration_text(st), "background: #2ca02c; color: white; padding: 4px;"
            if st.calibration != "ok":  # provisional zero: say so until a still period refines it
                style = "background: #f0a500; color: black; padding: 4px;"
            self._put(self.calibration_label, f"{text}{done}", style)
        else:
            self._put(self.calibration_label, "Stand still…", "background: #f0a500; color: black; padding: 4px;")
        if st.swap_suspected:
            self._put(self.calibration_label, SWAP_STATUS, "background: #d62728; color: white; padding: 4px;")
        if st.check:  # the start-up check's instruction or countdown (hinge.placement)
            self._put(self.calibration_label, st.check, "background: #f0a500; color: black; padding: 4px;")
        if self.swap_button.isHidden() == st.swap_suspected:
            self.swap_button.setVisible(st.swap_suspected)
        for name, s in st.sensors.items():
            dot = "#2ca02c" if s.connected else "#d62728"
            battery = f" · {battery_text(s.battery)}" if battery_text(s.battery) else ""
            dropped = f" · dropped {s.dropped_packets}" if s.dropped_packets else ""
            self._put(self.sensor_labels[name], f"<span style='color:{dot}'>●</span> <b>{name}</b> "
                                                f"{s.rate_hz:.0f} Hz · lost {s.lost_samples}{dropped}{battery}")
        self._put(self.source_label, f"{st.source} · {st.reps} reps")
        if self.has_replay_bar and st.duration_s is not None:
            if not self.timeline.isSliderDown() and st.position_s is not None:
                self.timeline.setValue(int(st.position_s * 10))
            self._put(self.time_label, f"{st.position_s or 0.0:5.1f} / {st.duration_s:.1f} s")
            self._put(self.play_button, "Play" if st.state == "paused" else "Pause")

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
                self.refresh_final()
            finally:
                self.session.close()
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


def _worst_fault(rep: dict) -> dict | None:
    faults = rep.get("faults") or []
    return next((f for f in faults if f["severity"] == "fault"), faults[0] if faults else None)


_APP: QtWidgets.QApplication | None = None


def application() -> QtWidgets.QApplication:
    """The process's QApplication (created once and kept: Qt objects must not outlive it)."""
    global _APP
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
