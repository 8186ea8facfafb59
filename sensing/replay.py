"""Replay source: a recording paced back as a live `RawPacket` stream (ARCHITECTURE.md §1, §9.3).

Reading is not pacing: `sensing.recording.read_recording` yields as fast as it can; `ReplaySource`
wraps it and releases packet ``k`` when the clock reaches ``anchor_clock + (t_k - anchor_t) / speed``.
Pause, resume, seek and speed changes move the anchor, so a late consumer never makes time drift
(late packets go out at once, in order) and no step depends on earlier sleeps having been exact.

The clock is injected: anything with ``now() -> float`` (seconds) and ``async sleep(dt)``. Tests pass
a fake clock and never sleep for real.

Controls (`pause`, `resume`, `seek`, `speed`) are plain methods to call from the event loop's thread
(from another thread use ``loop.call_soon_threadsafe``). Events in the recording (connected,
disconnected, battery, marker) are paced like packets and handed to ``on_event``; the stream itself
carries only `RawPacket`, like the live sources.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from sensing.recording import Event, Item, Recording, read_recording
from sensing.types import RawPacket

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
        on_event: called with each `Event` of the recording when its time comes.
        checkpoint_interval_s: recording-time spacing of the remembered file offsets that make
            backward seeks fast.

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
    ) -> None:
        self.recording = recording if isinstance(recording, Recording) else read_recording(recording)
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._speed = self._check_speed(speed)
        self._on_event = on_event
        self._ckpt_interval_s = checkpoint_interval_s
        self._ckpt_t: list[float] = [-math.inf]  # recording time of the item at each offset
        self._ckpt_off: list[int] = [self.recording.body_offset]
        self._max_offset = self.recording.body_offset  # furthest file offset read so far
        self._items: Iterator[tuple[int, Item]] | None = None
        self._read_off = self.recording.body_offset  # offset of the last item read from the file
        self._pending: tuple[int, Item] | None = None  # read from the file, not yet released
        self._last_t: float | None = None  # recording time of the last item released
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
                if self._on_event is not None:
                    self._on_event(item)
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
        if self._items is not None and (self._last_t is None or t_s > self._last_t):
            offset = max(offset, self._read_off)  # forward: continue from where reading stopped
        self._open_at(offset, t_s)
        self._last_t = None

    async def aclose(self) -> None:
        """Stop the stream and close the file. Idempotent."""
        if not self._closed:
            self._closed = True
            if self._items is not None:
                self._items.close()
            self._wake.set()

    async def __aenter__(self) -> ReplaySource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
