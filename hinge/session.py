"""The live session: packet source → (recorder) → decoder + timebase → tracker → what the views pull.

    source ─► RawPacket ─┬─► Recorder (optional, raw bytes)
                         └─► SensorStream (decode, time) ─► Tracker ─► FrameRing + event log + status

One `Session` composes the pieces for every `hinge.sensing.source.PacketSource` — a BLE pair, the emulated
BLE link, a paced simulated set or a replayed recording — so nothing downstream knows where the packets
came from (docs/ARCHITECTURE.md §1, §9).

Runtime (docs/ARCHITECTURE.md §8): one asyncio loop owns the source. `Session.start()` runs it in a loop
thread for the Qt window, which pulls `frames()`, `events_since()` and `status()` on a timer (no
per-sample signals; `status()` is a snapshot the loop thread publishes); headless commands call
``asyncio.run(session.run())``. `Session.close()` is idempotent: it stops the loop, disconnects the
sensors (the source's ``__aexit__``) and flushes and closes the recording. Tests and benches may also
drive `Session.ingest` directly, packet by packet, without any loop.

Over 600 lines with a reason: one class whose parts (ingest, loop, controls, swap, status) share its
state and its thread rules; split, each part would reach into the others' private state.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hinge import __version__
from hinge.analysis.core import LOWPASS_LIBRARY
from hinge.analysis.pipeline import Settings
from hinge.analysis.tracker import Alert, Calibrated, Placement, Remeasured, Rep, Tracker
from hinge.framering import FrameRing
from hinge.placement import StartupCheck
from hinge.sensing.errors import describe_error
from hinge.sensing.recording import EVENTS, Recorder
from hinge.sensing.replay import Clock, MonotonicClock
from hinge.sensing.source import ControlledSource, PacketSource, sensor_info
from hinge.sensing.stream import SensorStream
from hinge.sensing.types import OTHER_PLACEMENT, RawPacket

log = logging.getLogger(__name__)

TrackerEvent = Calibrated | Alert | Rep | Placement

_MAX_PENDING = 256  # packets queued (not yet decoded and fed to the tracker) before a flush is forced
_REBUILD_CHUNK = 2_000  # packets decoded at once when a seek rebuilds the analysis (the loop runs in between)
_RATE_WINDOW_S = 2.0  # measured sample rate: over this much recent sample time
_STATUS_EVERY_S = 0.1  # the loop thread publishes the status at least this often while running
_RECORDER_TICK_EVERY = 3  # status periods between recorder ticks (~0.3 s)


@dataclass(frozen=True)
class SessionEvent:
    """A tracker event and when the session produced it (session seconds, the packets' time base)."""

    t_emitted: float
    event: TrackerEvent


@dataclass(frozen=True)
class SensorStatus:
    """One placement as the window shows it. rate_hz: measured over the last 2 s of samples."""

    connected: bool
    rate_hz: float
    nominal_hz: float
    packets: int
    lost_samples: int
    battery: float | None
    address: str
    dropped_packets: int = 0  # corrupt timestamp or counter, or out of order (see hinge.sensing.timebase)


@dataclass(frozen=True)
class SessionStatus:
    """What the views show, published by the loop thread (`Session.status`). state: starting | running |
    paused | finished | stopped | error. t_s: newest frame time. position_s, duration_s (recording
    seconds), speed (None: as fast as possible) and paused: of a replay; otherwise None, None, 1.0, False."""

    state: str
    source: str
    calibrated: bool
    sensors: dict[str, SensorStatus]
    t_s: float | None
    reps: int
    calibration: str | None = None  # the neutral's quality: ok | short_still | no_still_period (None: not yet)
    axes: bool = False  # the sagittal plane is known (after the first forward bend)
    position_s: float | None = None
    duration_s: float | None = None
    speed: float | None = None
    paused: bool = False
    error: str | None = None
    swap_suspected: bool = False  # the placement check doubts the placement: faults and cues withheld
    swapped: bool = False  # the analysis runs with the sensors swapped (`--swap`, or the window's button)
    check: str | None = None  # the start-up check's instruction while it runs ("bend forward once", countdown)
    seeking: bool = False  # a seek is rebuilding the analysis from the set's start (frames still arriving)


@dataclass
class _SensorState:
    connected: bool = False
    packets: int = 0
    battery: float | None = None
    recent: deque = field(default_factory=deque)  # (t_first, t_last, n) per block fed
    recent_n: int = 0  # samples in `recent`


class Session:
    """Source → optional recorder → decoders → tracker → ring buffer, event log and status.

    Args:
        source: a `hinge.sensing.source.PacketSource`; a `ControlledSource` (replay) enables the controls.
        exercise: analyzer exercise name (recording header and tracker).
        settings: analysis settings (fault limits are `settings.limits`).
        record_to: write every packet and link event to this recording (opened here: a bad path
            fails at once, before anything connects).
        label: recording label.
        athlete: athlete's name or id, stored in the recording header with the limits judged by.
        ring_s: seconds of frames kept for the views (fixed memory).
        batch_s: packets are decoded and fed to the tracker in rounds: as soon as every sensor has
            a packet queued, or `batch_s` after the first one was queued (a silent sensor), whichever
            comes first. Frames need both sensors' data anyway, so a round costs little latency
            (bench/live_latency.py) and does the work in one burst instead of one wake-up per packet
            (bench/live_cpu_split.py). Output is identical: the tracker is chunk-invariant. 0 = after
            every packet. Sources replaying as fast as possible are always fed in batches.
        clock: session clock (``now()``, ``async sleep()``) for `--duration` and event stamps.
        max_events: event-log length kept for `events_since` (older events drop out).
        swap: the sensors sit on each other's places (`--swap`): every packet's placement is swapped as it
            arrives, before the recording (which then says where each sensor really was) and the analysis.
        placement_check: start with `hinge.placement.StartupCheck` (both sensors streaming, "bend
            forward once", then a stand-still countdown); the analysis takes the samples after the bend.

    Thread model (docs/ARCHITECTURE.md §8): `ingest` / `flush` and everything that touches the source run
    on the loop thread (or a test's thread when it drives `ingest` itself). Other threads call
    `frames`, `events_since`, `status`, `reps` and the controls: `status()` returns the frozen
    `SessionStatus` the loop thread published last (after every round of packets, every control
    and every `_STATUS_EVERY_S`), so no other thread ever reads the source's or the tracker's state.
    """

    def __init__(
        self,
        source: PacketSource,
        *,
        exercise: str = "unknown",
        settings: Settings | None = None,
        record_to: str | Path | None = None,
        label: str = "",
        athlete: str = "",
        ring_s: float = 30.0,
        batch_s: float = 0.03,
        clock: Clock | None = None,
        max_events: int = 10000,
        swap: bool = False,
        placement_check: bool = False,
    ) -> None:
        self.source = source
        self._swap_in = bool(swap)  # placements swapped as packets arrive (recording included)
        self._swap_analysis = False  # toggled by `swap_sensors`: the tracker gets the other placement's stream
        self.exercise = exercise
        self.athlete = athlete
        self.settings = settings or Settings()
        if self.settings.revise.enabled:
            # the tracker low-passes a rep it measures again after a data hole (`hinge.analysis.revise`): its
            # library imported here, before any frame, so its first import (~0.2 s) delays no cue
            importlib.import_module(LOWPASS_LIBRARY)
        self.batch_s = float(batch_s)
        self.clock: Clock = clock or MonotonicClock()
        self._controlled = isinstance(source, ControlledSource)
        self.ring = FrameRing(int(math.ceil(ring_s * max(source.rates_hz.values()))) + 1)
        self._lock = threading.RLock()
        self._events: deque[SessionEvent] = deque(maxlen=max_events)
        self._n_events = 0
        self._reps: list[dict] = []
        self._sensors = {self._placed(s): _SensorState() for s in source.profiles}
        self._state = "starting"
        self._error: BaseException | None = None
        self.generation = 0
        """Bumped when a seek resets the analysis: views clear what they drew."""
        self._t0 = self.clock.now()
        self._pending: dict[str, list[RawPacket]] = {s: [] for s in source.profiles}  # queued, not decoded
        self._n_pending = 0
        self.frames_at: float | None = None
        """Session time (`now()`) when the newest frames were published."""
        self._flush_timer: asyncio.Future | None = None  # flushes batch_s (session clock) after the first queued
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._ready = threading.Event()
        self._done = threading.Event()
        self._closed = False
        self._finished_tracker = False
        self.recorder: Recorder | None = None
        self._recorded = 0  # packets written to the recording
        if record_to is not None:
            self.recorder = Recorder(
                record_to, sensors={self._placed(s): i for s, i in sensor_info(source).items()},
                exercise=exercise if exercise else "unknown",
                label=label, athlete=athlete, limits_deg=self.settings.limits.limits, app_version=__version__,
            )
        self.source.on_event = self._on_link_event
        self.startup = (StartupCheck({self._placed(s): r for s, r in source.rates_hz.items()})
                        if placement_check else None)
        self._status: SessionStatus | None = None
        self._rebuild: asyncio.Future | None = None  # a seek's rebuild of the analysis, running on the loop
        self._play_after_rebuild = False  # resume the replay when the rebuild is done (the user's play / pause)
        self._reset_pipeline()

    # -- the core (loop thread) --------------------------------------------------------------------
    def _placed(self, sensor: str) -> str:
        """Where a sensor of the source sits (`swap`)."""
        return OTHER_PLACEMENT.get(sensor, sensor) if self._swap_in else sensor

    def _placed_packet(self, pkt: RawPacket) -> RawPacket:
        """The packet under the placement its sensor sits at (`swap`)."""
        sensor = self._placed(pkt.sensor)
        return pkt if sensor == pkt.sensor else RawPacket(pkt.t_host, sensor, pkt.payload)

    def _analysed_as(self, sensor: str) -> str:
        """Which placement the analysis takes a (placed) sensor's stream for (`swap_sensors`)."""
        return OTHER_PLACEMENT.get(sensor, sensor) if self._swap_analysis else sensor

    def _reset_pipeline(self) -> None:
        with self._lock:
            src = self.source
            self.streams = {self._placed(s): SensorStream(self._placed(s), p, src.rates_hz[s])
                            for s, p in src.profiles.items()}
            rates = {self._analysed_as(s): st.rate_hz for s, st in self.streams.items()}
            self.tracker = Tracker(rates, exercise=self.exercise, settings=self.settings)
            self.ring.clear()
            self._events.clear()
            self._n_events = 0
            self._reps = []
            self._history = []
            self._n_history = 0
            self._pending = {s: [] for s in self.streams}
            self._n_pending = 0
            self.frames_at = None
            for st in self._sensors.values():
                st.recent.clear()
                st.recent_n = 0
            self.generation += 1
        self._publish_status()

    def now(self) -> float:
        """Session seconds (the session clock since the session was created / started)."""
        return self.clock.now() - self._t0

    def ingest(self, pkt: RawPacket, *, flush: bool = True) -> None:
        """One packet: record it and queue it; with flush, decode and time what is queued and feed the
        tracker."""
        pkt = self._placed_packet(pkt)
        if self.recorder is not None:
            self.recorder.write_packet(pkt)
            self._recorded += 1
        if pkt.sensor not in self.streams:
            return
        st = self._sensors[pkt.sensor]
        st.packets += 1
        st.connected = True
        self._pending[pkt.sensor].append(pkt)
        self._n_pending += 1
        if flush or self._n_pending >= _MAX_PENDING:
            self.flush()

    def round_complete(self) -> bool:
        """True when every sensor has a packet queued (a round: time to flush)."""
        return all(self._pending.values())

    def flush(self) -> None:
        """Decode and time the queued packets, feed them to the tracker; publish frames and events."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._n_pending:
            return
        pending, self._pending = self._pending, {s: [] for s in self.streams}
        self._n_pending = 0
        now = self.now()
        blocks = {}
        for sensor, packets in pending.items():
            if packets:
                block = self.streams[sensor].feed_many([p.t_host for p in packets], [p.payload for p in packets])
                if block is not None:
                    blocks[sensor] = block
        if self.startup is not None and not self.startup.done:  # the start-up check sees every sample first
            self._check(blocks)
        for sensor, block in blocks.items():
            st = self._sensors[sensor]
            t, acc, gyr = block.t, block.acc, block.gyr  # strictly increasing (the timebase drops the rest)
            if self.startup is not None:  # the analysis starts after the placement bend
                t_from = self.startup.analysis_from_s
                k = len(t) if t_from is None else int(np.searchsorted(t, t_from))
                if k < len(t):
                    out = self.tracker.feed(self._analysed_as(sensor), t[k:], acc[k:], gyr[k:])
                    self._publish(out.frames, out.events, now)
            else:
                out = self.tracker.feed(self._analysed_as(sensor), t, acc, gyr)
                self._publish(out.frames, out.events, now)
            with self._lock:  # status() reads it from the window's thread
                recent = st.recent
                recent.append((float(t[0]), float(t[-1]), len(t)))
                st.recent_n += len(t)
                while len(recent) > 1 and recent[0][1] < t[-1] - _RATE_WINDOW_S:
                    st.recent_n -= recent.popleft()[2]
        self._publish_status()

    def _check(self, blocks: dict) -> None:
        """Feed the start-up check; the recording gets a marker when the placement bend was seen."""
        check = self.startup
        seen = check.swapped is not None
        for sensor, block in blocks.items():
            check.feed(sensor, block.t, block.acc, block.gyr)
        if not seen and check.swapped is not None and self.recorder is not None and not self.recorder.closed:
            text = f"placement check: {check.placement_text()}"
            self.recorder.write_event(check.analysis_from_s, "marker", None, text)

    def finish(self) -> None:
        """End of the stream: feed what is pending and close the rep in progress (once)."""
        self.flush()
        if not self._finished_tracker:
            self._finished_tracker = True
            self._publish(np.zeros((0, 4)), self.tracker.finish().events, self.now())
            self._publish_status()  # the last rep counts in the status at once

    def _publish(self, frames: np.ndarray, events: list, now: float) -> None:
        if len(frames):
            self.ring.extend(frames)
            with self._lock:
                self._history.append(np.array(frames, dtype=float))
                self._n_history += len(frames)
            self.frames_at = now
        if events:
            with self._lock:
                for ev in events:
                    self._events.append(SessionEvent(now, ev))
                    self._n_events += 1
                    if isinstance(ev, Rep):
                        self._reps.append(ev.rep)
                    elif isinstance(ev, Remeasured):
                        self._reps[ev.rep["index"] - 1] = ev.rep

    def _on_link_event(self, ev: Any) -> None:
        """A source's link event (`hinge.sensing.source.LinkCallback`): connection state, battery; recorded."""
        t, sensor, event, value = ev.t_host, self._placed(ev.sensor), ev.event, ev.value
        st = self._sensors.get(sensor)
        if st is not None:
            if event == "connected":
                st.connected = True
            elif event == "disconnected":
                st.connected = False
            elif event == "battery":
                st.battery = value
        if self.recorder is not None and event in EVENTS and not self.recorder.closed:
            try:
                self.recorder.write_event(t, event, sensor if sensor in self._sensors else None, value)
            except (TypeError, ValueError) as exc:
                log.warning("%s: event %s not recorded: %s", sensor, event, exc)
        self._publish_status()

    # -- running ------------------------------------------------------------------------------------
    async def run(self, duration_s: float | None = None) -> None:
        """Stream until the source ends, `stop()` is called or `duration_s` (session clock) passes.

        Always disconnects the source, finishes the tracker and closes the recording on the way out
        (also on Ctrl-C / cancellation); re-raises a source or analysis error.
        """
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._t0 = self.clock.now()
        self._ready.set()
        if self._stop_requested:
            self._stop_event.set()
        consumer = asyncio.ensure_future(self._consume())
        waiters = {consumer, asyncio.ensure_future(self._stop_event.wait())}
        if duration_s is not None:
            waiters.add(asyncio.ensure_future(self.clock.sleep(duration_s)))
        ticker = asyncio.ensure_future(self._tick())
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waiters, ticker, self._rebuild):
                if task is not None and not task.done():
                    task.cancel()
            for task in (*waiters, ticker, self._rebuild):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self._rebuild = None
            self._shutdown_pipeline()
            self._done.set()
        if consumer.done() and not consumer.cancelled() and consumer.exception() is not None:
            raise consumer.exception()

    async def _consume(self) -> None:
        try:
            async with self.source:
                self._set_state("running")
                src, controlled = self.source, self._controlled
                async for pkt in src:
                    live = not controlled or src.speed is not None
                    flush_now = live and (self.batch_s <= 0 or self.round_complete())
                    self.ingest(pkt, flush=flush_now)
                    if live and not flush_now:
                        self._publish_status()  # a queued packet shows in the status at once
                    if self._n_pending and self._flush_timer is None:
                        self._flush_timer = asyncio.ensure_future(self._flush_after(self.batch_s))
                self.finish()
            self._set_state("finished")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.debug("session stopped: %s", exc)
            self._error = exc
            self._set_state("error")
            raise

    async def _flush_after(self, delay_s: float) -> None:
        await self.clock.sleep(delay_s)
        self._flush_timer = None  # flush() must not cancel the task it runs in
        self.flush()

    async def _tick(self) -> None:
        """Publish the status while nothing flows (a paused replay moves no packets) and let the
        recorder flush on time."""
        n = 0
        while True:
            await asyncio.sleep(_STATUS_EVERY_S)
            self._publish_status()
            n += 1
            if n % _RECORDER_TICK_EVERY == 0 and self.recorder is not None and not self.recorder.closed:
                self.recorder.tick()

    def _shutdown_pipeline(self) -> None:
        with contextlib.suppress(Exception):
            self.finish()
        if self._state in ("starting", "running"):
            self._set_state("stopped")
        self._close_recorder()

    def _close_recorder(self) -> None:
        """Close the recording; one that got no packet (nothing connected) is removed: a header alone is
        no set, `analyze` would refuse it."""
        if self.recorder is None or self.recorder.closed:
            return
        self.recorder.close()
        if self._recorded == 0:
            with contextlib.suppress(OSError):
                self.recorder.path.unlink()
                log.info("%s: no packet recorded; file removed", self.recorder.path)

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state
        self._publish_status()

    def start(self, duration_s: float | None = None) -> Session:
        """Run the session in its own loop thread (for the window). Returns once the loop runs."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, args=(duration_s,), name="hinge-session",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def _thread_main(self, duration_s: float | None) -> None:
        try:
            asyncio.run(self.run(duration_s))
        except BaseException as exc:  # noqa: BLE001 - reported through status() / error
            if self._error is None:
                self._error = exc
        finally:
            self._ready.set()
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ended (source finished, stopped or failed); False on timeout."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        return self._error

    def stop(self) -> None:
        """Ask the run to end (any thread); returns at once. `close` also waits for it."""
        self._stop_requested = True
        loop, ev = self._loop, self._stop_event
        if loop is not None and ev is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop thread, disconnect the source, flush and close the recording. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("session loop thread did not stop within %.0f s", timeout)
        elif self._loop is None:  # never ran: nothing connected; close (and remove) what __init__ opened
            self._close_recorder()
            self._set_state("stopped")
            self._done.set()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- controls (any thread) ----------------------------------------------------------------------
    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None and self._thread is None and not self._done.is_set():
            fn()  # no loop yet (or a test drives `ingest` itself): nothing runs concurrently
            return
        if loop is None or loop.is_closed() or self._done.is_set():
            return
        try:
            if threading.current_thread() is self._thread or _running_loop() is loop:
                fn()
            else:
                loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop closed meanwhile
            pass

    @property
    def controllable(self) -> bool:
        """The source can pause, seek and change speed (a `ControlledSource`)."""
        return self._controlled

    def _control(self, fn: Callable[[ControlledSource], None]) -> None:
        if not self._controlled:
            return

        def do() -> None:
            fn(self.source)  # type: ignore[arg-type]
            self._publish_status()

        self._on_loop(do)

    def pause(self) -> None:
        self._control(lambda src: self._set_playing(src, False))

    def resume(self) -> None:
        self._control(lambda src: self._set_playing(src, True))

    def _set_playing(self, src: ControlledSource, playing: bool) -> None:
        if self._rebuild is not None:  # the source stays held until the rebuild is done
            self._play_after_rebuild = playing
        else:
            (src.resume if playing else src.pause)()

    def set_speed(self, speed: float | None) -> None:
        self._control(lambda src: src.set_speed(speed))

    def seek(self, t_s: float) -> None:
        """Show the replay from t_s on; returns at once (any thread). On the loop thread the source is held
        and moved to t_s with its own checkpointed seek, and the analysis is rebuilt from the packets
        before t_s (calibration needs the set's start) in a task, `_REBUILD_CHUNK` packets at a time with
        the loop running between (status, controls, stop; a newer seek cancels it). Then the source
        plays on at its speed and play / pause state (pause / resume meanwhile set that state)."""
        if not math.isfinite(t_s):
            raise ValueError(f"seek time must be finite, got {t_s!r}")

        def do(src: ControlledSource) -> None:
            target = min(max(0.0, float(t_s)), src.duration_s)
            if self._rebuild is not None:
                self._rebuild.cancel()  # superseded: the source is already held
            else:
                self._play_after_rebuild = not src.paused
                src.pause()
            src.seek(target)
            self._reset_pipeline()
            steps = self._rebuild_steps(src, src.packets_before(target))
            if _running_loop() is None:  # no loop (a test drives `ingest` itself): all at once
                for _ in steps:
                    pass
            else:
                self._rebuild = asyncio.ensure_future(self._run_steps(steps))

        self._control(do)

    def _feed_steps(self, packets: Generator[RawPacket, None, None]) -> Iterator[None]:
        """Feed packets (each under the placement the analysis takes it for), yielding after each
        `_REBUILD_CHUNK`."""
        with contextlib.closing(packets):
            for pkt in packets:
                pkt = self._placed_packet(pkt)
                if pkt.sensor in self._pending:
                    self._pending[pkt.sensor].append(pkt)
                    self._n_pending += 1
                    if self._n_pending >= _REBUILD_CHUNK:
                        self.flush()
                        yield
            self.flush()

    def _rebuild_steps(self, src: ControlledSource, packets: Generator[RawPacket, None, None]) -> Iterator[None]:
        """Feed the packets before a seek's target, pausing after each `_REBUILD_CHUNK`; then play on."""
        yield from self._feed_steps(packets)
        self._rebuild = None
        if self._play_after_rebuild:
            src.resume()
        self._publish_status()

    @staticmethod
    async def _run_steps(steps: Generator[None, None, None]) -> None:
        with contextlib.closing(steps):  # cancelled by a newer seek or stop: the file reader closes now
            for _ in steps:
                await asyncio.sleep(0)  # the loop publishes the status, takes controls, may cancel us

    def _rebuild_now(self, src: ControlledSource, target: float) -> None:
        """Restart the analysis and feed it the source's packets before `target` at once (a seek's rebuild
        in progress goes: this one covers it)."""
        if self._rebuild is not None:
            self._rebuild.cancel()
            self._rebuild = None
            if self._play_after_rebuild:
                src.resume()
        self._reset_pipeline()
        for _ in self._feed_steps(src.packets_before(target)):
            pass

    @property
    def analysis_swapped(self) -> bool:
        """Whether the analysis reads the streams the other way round from how they are recorded (the
        window's "Swap sensors"): the recording is then analysed right with `--swap`."""
        return self._swap_analysis

    def swap_sensors(self) -> None:
        """Re-run the set with the sensors swapped in the analysis (the window's button; again: back).

        A replay is rebuilt up to where it is and goes on (a finished one is re-run to its end at once); a
        live session restarts its analysis (stand still again), and its recording keeps the packets as
        they come, with a marker event saying so (`hinge analyze --swap` reads it right)."""

        def do() -> None:
            self._swap_analysis = not self._swap_analysis
            src = self.source
            if self._controlled:
                self._rebuild_now(src, src.position_s)  # type: ignore[arg-type]
            else:
                self._reset_pipeline()
                if self.recorder is not None and not self.recorder.closed:
                    self.recorder.write_event(self.now(), "marker", None,
                                              f"analysis with sensors swapped: {self._swap_analysis}")
            self._publish_status()

        if self._done.is_set() and self._controlled:  # finished: no loop runs any more; re-run it here
            self._swap_analysis = not self._swap_analysis
            try:
                self._rebuild_now(self.source, self.source.duration_s + 1.0)  # type: ignore[arg-type]
            except OSError as exc:  # a temporary file (CSV, simulation) is gone with the source
                log.warning("cannot re-run the set: %s; run it again with --swap", exc)
                return
            self._finished_tracker = False
            self.finish()
            self._publish_status()
            return
        self._on_loop(do)

    # -- what the views pull (any thread) -----------------------------------------------------------
    def frames(self, last_s: float | None = None) -> np.ndarray:
        """(n, 4) t, pelvis_deg, trunk_deg, lumbar_deg, oldest first (a copy)."""
        return self.ring.latest(last_s)

    def set_frames(self) -> tuple[np.ndarray, int]:
        """Every frame of the set so far (since the start, or since a seek rebuilt the analysis) as
        (n, 4) array, oldest first (not to be written to), and n: what the window shows once the set ends
        or pauses. Unlike the ring, this grows with the set (32 bytes a frame: ~23 MB for an hour at
        200 Hz)."""
        with self._lock:
            if len(self._history) > 1:
                self._history = [np.concatenate(self._history)]
            frames = self._history[0] if self._history else np.zeros((0, 4))
            return frames, self._n_history

    def events_since(self, cursor: int = 0) -> tuple[list[SessionEvent], int]:
        """Events after `cursor` (0 = from the start) and the cursor to pass next time."""
        with self._lock:
            first = self._n_events - len(self._events)
            start = max(cursor, first)
            items = list(self._events)[start - first :] if start < self._n_events else []
            return items, self._n_events

    @property
    def reps(self) -> list[dict]:
        """Finished reps so far (analyzer-JSON rep dicts)."""
        with self._lock:
            return list(self._reps)

    def status(self) -> SessionStatus:
        """The status the loop thread published last (a frozen snapshot; any thread)."""
        return self._status

    def _check_says_swapped(self) -> bool:
        """The start-up check's bend says swapped, and the analysis has not been swapped back."""
        return self.startup is not None and self.startup.swapped is not None and (
            self.startup.swapped != self._swap_analysis)

    def _publish_status(self) -> None:
        """Build the status snapshot (loop thread, or the thread that drives `ingest`)."""
        with self._lock:
            sensors = {}
            for s, st in self._sensors.items():
                stream = self.streams[s]
                n = st.recent_n
                span = st.recent[-1][1] - st.recent[0][0] if st.recent else 0.0
                rate = (n - 1) / span if span > 0 else 0.0
                sensors[s] = SensorStatus(
                    connected=st.connected, rate_hz=rate, nominal_hz=stream.rate_hz, packets=st.packets,
                    lost_samples=stream.lost_samples, battery=st.battery,
                    address=self.source.addresses.get(self._placed(s), ""),
                    dropped_packets=stream.dropped_packets,
                )
            state = self._state
            src = self.source
            controlled = self._controlled
            seeking = self._rebuild is not None
            paused = controlled and (not self._play_after_rebuild if seeking else src.paused)
            if state == "running" and paused:
                state = "paused"
            self._status = SessionStatus(
                state=state,
                source=src.kind,
                calibrated=self.tracker.calibration is not None,
                calibration=self.tracker.calibration.quality if self.tracker.calibration else None,
                axes=self.tracker.axes is not None,
                sensors=sensors,
                t_s=self.ring.newest_t(),
                reps=len(self._reps),
                position_s=src.position_s if controlled else None,
                duration_s=src.duration_s if controlled else None,
                speed=src.speed if controlled else 1.0,
                paused=paused,
                error=describe_error(self._error) if self._error is not None else None,
                swap_suspected=self.tracker.swap_suspected or self._check_says_swapped(),
                check=self.startup.text if self.startup is not None else None,
                swapped=self._swap_in != self._swap_analysis,
                seeking=seeking,
            )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
