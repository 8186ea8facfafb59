"""Replay source: a recording paced back as a live `RawPacket` stream (docs/ARCHITECTURE.md §4, §9).

Reading is not pacing: `hinge.sensing.recording.read_recording` yields as fast as it can; `ReplaySource`
wraps it and releases packet ``k`` when the clock reaches ``anchor_clock + (t_k - anchor_t) / speed``.
Pause, resume, seek and speed changes move the anchor, so a late consumer never makes time drift
(late packets go out at once, in order) and no step depends on earlier sleeps having been exact.

The clock is injected: anything with ``now() -> float`` (seconds) and ``async sleep(dt)``. Tests pass
a fake clock and never sleep for real.

Controls (`pause`, `resume`, `seek`, `speed`) are plain methods to call from the event loop's thread
(from another thread use ``loop.call_soon_threadsafe``). Events in the recording (connected,
disconnected, battery, marker) are paced like packets and handed to ``on_event``; the stream itself
carries only `RawPacket`, like the live sources. `ReplaySource` is a `hinge.sensing.source.ControlledSource`;
`simulated_source` paces a simulated set through it (written as a temporary recording first).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hinge.sensing.profiles import Profile
from hinge.sensing.recording import Event, Item, Recorder, Recording, SensorInfo, read_recording
from hinge.sensing.stream import streams_from_header
from hinge.sensing.types import RawPacket

log = logging.getLogger(__name__)

_FAST_YIELD_EVERY = 256  # as-fast-as-possible mode lets other tasks run this often (packets)
_SEEK_MARGIN_S = 0.5  # tolerance for slightly out-of-order times when resuming at a checkpoint


class Clock(Protocol):
    """Time source for pacing: ``now()`` in seconds (monotonic), ``sleep(dt)`` waits ``dt`` seconds."""

    def now(self) -> float: ...

    async def sleep(self, dt: float) -> None: ...


class MonotonicClock:
    """The real clock: `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, dt: float) -> None:
        await asyncio.sleep(dt)


class ReplaySource:
    """Async iterator of `RawPacket` from a recording, paced on an injected clock.

    Args:
        recording: a `Recording` or a path to one.
        speed: playback rate (1.0 real time, 2.0 twice as fast); None or ``inf``: as fast as possible.
        clock: pacing clock (default `MonotonicClock`).
        start_s: recording time to start from (the first packet at or after it comes first); None:
            from the beginning, with recording time 0 at the first ``__anext__``.
        on_event: called with each `Event` of the recording when its time comes (an attribute too).
        checkpoint_interval_s: recording-time spacing of the remembered file offsets that make
            backward seeks fast.
        tmpdir: removed on close (a recording converted from another input).
        label: what the window shows as the source (default: the recording's path).

    profiles, rates_hz and addresses come from the recording header (the profiles stored in it).

    Recording time ``t`` (seconds since the recorded session started) maps to clock time from the
    first ``__anext__``: a packet at ``t`` is released at ``start_clock + (t - (start_s or 0)) / speed``.
    """

    def __init__(
        self,
        recording: Recording | str | os.PathLike[str],
        *,
        speed: float | None = 1.0,
        clock: Clock | None = None,
        start_s: float | None = None,
        on_event: Callable[[Event], Any] | None = None,
        checkpoint_interval_s: float = 1.0,
        tmpdir: tempfile.TemporaryDirectory | None = None,
        label: str | None = None,
        kind: str = "replay",
    ) -> None:
        self.recording = recording if isinstance(recording, Recording) else read_recording(recording)
        self.kind = kind
        self.label = label or str(self.recording.path)
        self.exercise = self.recording.header.get("exercise", "unknown")
        self._sensors: tuple[dict, dict, dict] | None = None  # profiles, rates, addresses (on first use)
        self._tmpdir = tmpdir
        self._duration: float | None = None
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._speed = self._check_speed(speed)
        self.on_event = on_event
        self._ckpt_interval_s = checkpoint_interval_s
        self._ckpt_t: list[float] = [-math.inf]  # recording time of the item at each offset
        self._ckpt_off: list[int] = [self.recording.body_offset]
        self._max_offset = self.recording.body_offset  # furthest file offset read so far
        self._items: Iterator[tuple[int, Item]] | None = None
        self._read_off = self.recording.body_offset  # offset of the last item read from the file
        self._pending: tuple[int, Item] | None = None  # read from the file, not yet released
        self._last_t: float | None = None  # recording time of the last item released
        self._opened_t: float | None = None  # the reader was (re)opened to give the items at or after this
        self._anchor_t = start_s if start_s is not None else 0.0
        self._anchor_clock: float | None = None  # set on the first __anext__
        self._paused = False
        self._paused_at = self._anchor_t
        self._seek_to: float | None = start_s
        self._closed = False
        self._since_yield = 0
        self._wake = asyncio.Event()

    # -- controls ---------------------------------------------------------------------------------

    @staticmethod
    def _check_speed(speed: float | None) -> float | None:
        if speed is None or speed == math.inf:
            return None
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"replay speed must be > 0 (or None for as fast as possible), got {speed!r}")
        return float(speed)

    @property
    def header(self) -> dict[str, Any]:
        return self.recording.header

    def _sensor_info(self) -> tuple[dict, dict, dict]:
        if self._sensors is None:
            header = self.recording.header
            streams = streams_from_header(header, source=str(self.recording.path))
            self._sensors = ({s: st.profile for s, st in streams.items()}, {s: st.rate_hz for s, st in streams.items()},
                             {s: str(header["sensors"][s].get("address", "")) for s in streams})
        return self._sensors

    @property
    def profiles(self) -> dict[str, Profile]:
        """Placement -> profile, loaded from the TOML text the header stores."""
        return self._sensor_info()[0]

    @property
    def rates_hz(self) -> dict[str, float]:
        return self._sensor_info()[1]

    @property
    def addresses(self) -> dict[str, str]:
        return self._sensor_info()[2]

    @property
    def duration_s(self) -> float:
        """Recording time of the last item (read once, from the file's tail when it is plain)."""
        if self._duration is None:
            self._duration = _recording_duration(self.recording)
        return self._duration

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed

    @property
    def speed(self) -> float | None:
        """Playback rate; None means as fast as possible."""
        return self._speed

    @speed.setter
    def speed(self, speed: float | None) -> None:
        new = self._check_speed(speed)
        if self._anchor_clock is not None and not self._paused:
            self._anchor_t, self._anchor_clock = self.position_s, self._clock.now()
        self._speed = new
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def position_s(self) -> float:
        """Recording time being played now (s): where a pause would stop, where resume continues."""
        if self._paused:
            return self._paused_at
        if self._anchor_clock is None:
            return self._anchor_t
        if self._speed is None:
            return self._last_t if self._last_t is not None else self._anchor_t
        return self._anchor_t + (self._clock.now() - self._anchor_clock) * self._speed

    def pause(self) -> None:
        """Stop releasing packets; recording time stands still until `resume`."""
        if not self._paused:
            self._paused_at = self.position_s
            self._paused = True
            self._wake.set()

    def resume(self) -> None:
        """Continue from where `pause` stopped (time spent paused is not replayed)."""
        if self._paused:
            self._paused = False
            self._anchor_t = self._paused_at
            if self._anchor_clock is not None:
                self._anchor_clock = self._clock.now()
            self._wake.set()

    def seek(self, t_s: float) -> None:
        """Continue from recording time ``t_s``: the next packet is the first at or after it.

        Works forward and backward, while playing or paused; a pending sleep is cut short.
        """
        if not math.isfinite(t_s):
            raise ValueError(f"seek time must be finite, got {t_s!r}")
        self._seek_to = t_s
        if self._paused:
            self._paused_at = t_s
        else:
            self._anchor_t = t_s
            if self._anchor_clock is not None:
                self._anchor_clock = self._clock.now()
        self._wake.set()

    # -- iteration --------------------------------------------------------------------------------

    def __aiter__(self) -> ReplaySource:
        return self

    async def __anext__(self) -> RawPacket:
        if self._anchor_clock is None:
            self._anchor_clock = self._clock.now()
        while True:
            self._wake.clear()
            if self._closed:
                raise StopAsyncIteration
            if self._seek_to is not None:
                self._reposition(self._seek_to)
                self._seek_to = None
            if self._paused:
                await self._wake.wait()
                continue
            nxt = self._peek()
            if nxt is None:
                raise StopAsyncIteration
            item = nxt[1]
            if self._speed is not None:
                dt = self._anchor_clock + (item.t_host - self._anchor_t) / self._speed - self._clock.now()
                if dt > 0:
                    await self._sleep_unless_woken(dt)
                    continue  # re-check controls and time
            elif self._since_yield >= _FAST_YIELD_EVERY:
                self._since_yield = 0
                await asyncio.sleep(0)  # let other tasks (controls, UI) run; not a timed sleep
                continue
            self._pending = None
            self._last_t = item.t_host
            self._since_yield += 1
            if isinstance(item, Event):
                if self.on_event is not None:
                    self.on_event(item)
                continue
            return item

    async def _sleep_unless_woken(self, dt: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(dt))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
        if sleeper in done:
            sleeper.result()  # propagate a failing clock

    def _peek(self) -> tuple[int, Item] | None:
        if self._pending is None:
            if self._items is None:
                self._open_at(self.recording.body_offset, None)
            nxt = next(self._items, None)
            if nxt is not None:
                off, item = nxt
                self._read_off = off
                if off > self._max_offset:
                    self._max_offset = off
                    if item.t_host >= self._ckpt_t[-1] + self._ckpt_interval_s:
                        self._ckpt_t.append(item.t_host)
                        self._ckpt_off.append(off)
            self._pending = nxt
        return self._pending

    def _open_at(self, offset: int, skip_before: float | None) -> None:
        if self._items is not None:
            self._items.close()
        self._items = self.recording.iter_from(offset, skip_before=skip_before)
        self._pending = None

    def _reposition(self, t_s: float) -> None:
        """Make the next item read the first one at or after ``t_s``.

        Reopens the reader at the nearest remembered offset (never behind the read position when
        moving forward) and lets it drop earlier lines without a full parse.
        """
        if (
            self._pending is not None
            and self._pending[1].t_host >= t_s
            and (self._last_t is None or t_s > self._last_t)
        ):
            return  # nothing between the last released item and the pending one
        i = bisect.bisect_right(self._ckpt_t, t_s - _SEEK_MARGIN_S) - 1
        offset = self._ckpt_off[max(i, 0)]
        here = self._last_t if self._last_t is not None else self._opened_t  # where the reader is
        if self._items is not None and here is not None and t_s > here:
            offset = max(offset, self._read_off)  # forward: continue from where reading stopped
        self._open_at(offset, t_s)
        self._read_off, self._opened_t = offset, t_s  # (a second seek before any item is read)
        self._last_t = None

    def packets_before(self, t_s: float) -> Iterator[RawPacket]:
        """The recording's packets before recording time t_s, as fast as the file reads (a second reader:
        the paced stream does not move). A session rebuilds its analysis from them after a seek."""
        items = self.recording.iter_from(self.recording.body_offset, skip_before=None)
        try:
            for _off, item in items:
                if item.t_host >= t_s:
                    return
                if not isinstance(item, Event):
                    yield item
        finally:
            items.close()

    async def aclose(self) -> None:
        """Stop the stream and close the file (and remove `tmpdir`). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._items is not None:
                self._items.close()
            self._wake.set()
            if self._tmpdir is not None:
                self._tmpdir.cleanup()

    async def __aenter__(self) -> ReplaySource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _recording_duration(recording: Recording) -> float:
    """Time of the last item in a recording (s): from the file's tail when plain, else a full pass."""
    with open(recording.path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            size = f.seek(0, 2)
            f.seek(max(recording.body_offset, size - 65536))
            for line in reversed(f.read().splitlines()):
                try:
                    return float(json.loads(line)["t"])
                except (ValueError, KeyError, TypeError):
                    continue  # a cut line (crash) or the start of the tail window
            return 0.0
    last = 0.0
    for item in recording:
        last = item.t_host
    return last


def packets_to_recording(packets: Sequence[RawPacket], profiles: Mapping[str, Profile],
                         rates_hz: Mapping[str, float], out: str | os.PathLike[str], *, label: str = "",
                         addresses: Mapping[str, str] | None = None, name: str = "", app_version: str = "",
                         connected_events: bool = False) -> Path:
    """Write a packet list (e.g. `hinge.sensing.simsource.simulated_packets`) as a recording; with
    connected_events, each sensor's 'connected' event at time 0 first."""
    addresses = addresses or {}
    sensors = {s: SensorInfo(p.name, p.raw_text, address=addresses.get(s, ""), name=name, rate_hz=float(rates_hz[s]))
               for s, p in profiles.items()}
    with Recorder(out, sensors=sensors, label=label, app_version=app_version) as rec:
        if connected_events:
            for s in profiles:
                rec.write_event(0.0, "connected", s, addresses.get(s, ""))
        for pkt in packets:
            rec.write_packet(pkt)
    return Path(out)


def simulated_source(packets: Sequence[RawPacket], profiles: Mapping[str, Profile], rates_hz: Mapping[str, float],
                     *, speed: float | None = 1.0, clock: Clock | None = None, kind: str = "simulated",
                     label: str = "simulated set") -> ReplaySource:
    """Simulated packets paced like a replay: written to a temporary recording (removed on close) and
    played by `ReplaySource`, so pacing, pause, speed and seek are the replay's."""
    tmp = tempfile.TemporaryDirectory(prefix="hinge-sim-")
    try:
        path = packets_to_recording(packets, profiles, rates_hz, Path(tmp.name) / "simulated.jsonl", label=label,
                                    addresses={s: f"simulated-{s}" for s in profiles}, connected_events=True)
        return ReplaySource(path, speed=speed, clock=clock, tmpdir=tmp, label=label, kind=kind)
    except BaseException:
        tmp.cleanup()
        raise
