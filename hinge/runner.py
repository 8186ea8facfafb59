"""The live runner: packet source → (recorder) → decoder + timebase → tracker → what the views pull.

    source ─► RawPacket ─┬─► Recorder (optional, raw bytes)
                         └─► SensorStream (decode, time) ─► Tracker ─► FrameRing + event log + status

One `Session` composes the pieces for every source — a BLE pair (`BleFeed`), the emulated BLE link
(`EmulatedFeed`), a paced simulated set (`SimulatedFeed`) or a replayed recording / CSV file
(`ReplayFeed`) — so nothing downstream knows where the packets came from (ARCHITECTURE.md §1, §9.1).

Runtime (ARCHITECTURE.md §8): one asyncio loop owns the source. `Session.start()` runs it in a loop
thread for the Qt window, which pulls `frames()`, `events_since()` and `status()` on a timer (all
lock-protected, no per-sample signals); headless commands call ``asyncio.run(session.run())``.
`Session.close()` is idempotent: it stops the loop, disconnects the sensors (the source's
``__aexit__``) and flushes and closes the recording. Tests and benches may also drive
`Session.ingest` directly, packet by packet, without any loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.pipeline import Settings
from analysis.tracker import Alert, Calibrated, Rep, Tracker
from hinge import __version__
from hinge.errors import UserError
from sensing.profiles import Profile
from sensing.profiles import load as load_profile
from sensing.recording import EVENTS, Recorder, SensorInfo
from sensing.replay import Clock, MonotonicClock, ReplaySource
from sensing.simsource import simulated_packets
from sensing.simulator import SimConfig, SimulatedSet, simulate_set
from sensing.stream import SensorStream, streams_from_header
from sensing.types import SENSORS, RawPacket

log = logging.getLogger(__name__)

TrackerEvent = Calibrated | Alert | Rep
LinkCallback = Callable[[float, str, str, Any], None]
"""on_event(t_s, sensor, event, value): a link event (connected, disconnected, battery, marker)."""

DEFAULT_PROFILE = "hinge-ref"
_FAST_YIELD_EVERY = 256  # as-fast-as-possible sources let other tasks run this often (packets)
_MAX_PENDING = 256  # packets queued (not yet decoded and fed to the tracker) before a flush is forced
_RATE_WINDOW_S = 2.0  # measured sample rate: over this much recent sample time


# --------------------------------------------------------------------------------------------------
# Packet sources
# --------------------------------------------------------------------------------------------------
class PacketSource:
    """What a `Session` reads: an async context manager (connect / disconnect) that is an async
    iterator of `RawPacket` (ARCHITECTURE.md §9.1).

    profiles, rates_hz: per placement, the firmware profile and configured rate (Hz) — the decoders
    and the recording header are built from them. `on_event` is set by the session before entering;
    sources report link events through it. Replay sources set `controllable` and implement the
    controls (called on the loop thread only).
    """

    kind = "source"
    controllable = False

    def __init__(
        self,
        profiles: Mapping[str, Profile],
        rates_hz: Mapping[str, float],
        addresses: Mapping[str, str] | None = None,
    ) -> None:
        self.profiles = dict(profiles)
        self.rates_hz = {s: float(rates_hz.get(s) or p.nominal_hz) for s, p in self.profiles.items()}
        self.addresses = dict(addresses or {})
        self.on_event: LinkCallback | None = None

    def make_streams(self) -> dict[str, SensorStream]:
        """Fresh decoder + timebase per placement (a new one after every seek)."""
        return {s: SensorStream(s, p, self.rates_hz[s]) for s, p in self.profiles.items()}

    def sensor_info(self) -> dict[str, SensorInfo]:
        """What the recording header stores about each placement."""
        return {
            s: SensorInfo(p.name, p.raw_text, self.addresses.get(s, ""), rate_hz=self.rates_hz[s])
            for s, p in self.profiles.items()
        }

    def _event(self, t: float, sensor: str, event: str, value: Any = None) -> None:
        if self.on_event is not None:
            self.on_event(t, sensor, event, value)

    async def __aenter__(self) -> PacketSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream, disconnect; idempotent."""

    def __aiter__(self) -> PacketSource:
        return self

    async def __anext__(self) -> RawPacket:
        raise StopAsyncIteration

    # -- replay controls (controllable sources; loop thread only) ---------------------------------
    @property
    def position_s(self) -> float | None:
        return None

    @property
    def duration_s(self) -> float | None:
        return None

    @property
    def paused(self) -> bool:
        return False

    @property
    def speed(self) -> float | None:
        return 1.0

    def pause(self) -> None:
        raise NotImplementedError(f"{self.kind} source cannot pause")

    def resume(self) -> None:
        raise NotImplementedError(f"{self.kind} source cannot resume")

    def set_speed(self, speed: float | None) -> None:
        raise NotImplementedError(f"{self.kind} source has no speed")

    def seek(self, t_s: float) -> None:
        raise NotImplementedError(f"{self.kind} source cannot seek")


class SimulatedFeed(PacketSource):
    """A packet list (e.g. `simulated_packets`) released at its arrival times on an injected clock.

    speed: 1.0 real time, 2.0 twice as fast, None as fast as possible. Packet ``k`` goes out when
    ``clock.now() >= start + t_host[k] / speed``; a late consumer gets late packets at once, in order.
    """

    kind = "simulated"

    def __init__(
        self,
        packets: Sequence[RawPacket],
        profiles: Mapping[str, Profile],
        rates_hz: Mapping[str, float],
        *,
        speed: float | None = 1.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(profiles, rates_hz, {s: f"simulated-{s}" for s in profiles})
        self.packets = packets
        self._speed = speed
        self._clock = clock or MonotonicClock()
        self._i = 0
        self._start: float | None = None
        self._closed = False

    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def duration_s(self) -> float | None:
        return self.packets[-1].t_host if self.packets else 0.0

    @property
    def position_s(self) -> float | None:
        return self.packets[self._i - 1].t_host if self._i else 0.0

    async def __aenter__(self) -> SimulatedFeed:
        for s in self.profiles:
            self._event(0.0, s, "connected", self.addresses[s])
        return self

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            for s in self.profiles:
                self._event(self.position_s or 0.0, s, "disconnected", "closed")

    async def __anext__(self) -> RawPacket:
        if self._closed or self._i >= len(self.packets):
            raise StopAsyncIteration
        if self._start is None:
            self._start = self._clock.now()
        pkt = self.packets[self._i]
        if self._speed is not None:
            dt = self._start + pkt.t_host / self._speed - self._clock.now()
            if dt > 0:
                await self._clock.sleep(dt)
        elif self._i % _FAST_YIELD_EVERY == _FAST_YIELD_EVERY - 1:
            await asyncio.sleep(0)
        if self._closed:
            raise StopAsyncIteration
        self._i += 1
        return pkt


class ReplayFeed(PacketSource):
    """A recording paced back (`sensing.replay.ReplaySource`), with play / pause / speed / seek.

    Seeking restarts the analysis: calibration needs the standing period at the start of the set,
    so a seek replays from the beginning as fast as possible up to the target (the session resets its
    tracker first) and then continues at the chosen speed. `tmpdir` is removed on close (CSV input
    converted to a recording).
    """

    kind = "replay"
    controllable = True

    def __init__(
        self,
        path: str | Path,
        *,
        speed: float | None = 1.0,
        clock: Clock | None = None,
        tmpdir: tempfile.TemporaryDirectory | None = None,
        label: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.label = label or str(path)
        self.src = ReplaySource(self.path, speed=speed, clock=clock, on_event=self._on_recorded_event)
        header = self.src.header
        self._streams_proto = streams_from_header(header, source=str(self.path))
        profiles = {s: st.profile for s, st in self._streams_proto.items()}
        rates = {s: st.rate_hz for s, st in self._streams_proto.items()}
        addresses = {s: str(info.get("address", "")) for s, info in header["sensors"].items() if s in profiles}
        super().__init__(profiles, rates, addresses)
        self.exercise = header.get("exercise", "unknown")
        self._tmpdir = tmpdir
        self._duration = _recording_duration(self.src.recording)
        self._catch_up: tuple[float, float | None, bool] | None = None  # (target, speed after, paused after)
        self._closed = False

    def make_streams(self) -> dict[str, SensorStream]:
        return streams_from_header(self.src.header, source=str(self.path))

    def _on_recorded_event(self, ev) -> None:
        if ev.sensor in self.profiles:
            self._event(ev.t_host, ev.sensor, ev.event, ev.value)

    @property
    def position_s(self) -> float:
        return self._catch_up[0] if self._catch_up else self.src.position_s

    @property
    def duration_s(self) -> float:
        return self._duration

    @property
    def paused(self) -> bool:
        return self._catch_up[2] if self._catch_up else self.src.paused

    @property
    def speed(self) -> float | None:
        return self._catch_up[1] if self._catch_up else self.src.speed

    def pause(self) -> None:
        if self._catch_up:
            self._catch_up = (self._catch_up[0], self._catch_up[1], True)
        else:
            self.src.pause()

    def resume(self) -> None:
        if self._catch_up:
            self._catch_up = (self._catch_up[0], self._catch_up[1], False)
        else:
            self.src.resume()

    def set_speed(self, speed: float | None) -> None:
        if self._catch_up:
            self._catch_up = (self._catch_up[0], speed, self._catch_up[2])
        else:
            self.src.speed = speed

    def seek(self, t_s: float) -> None:
        """Restart from the beginning, fast, up to t_s (the session has reset its pipeline)."""
        if not math.isfinite(t_s):
            raise ValueError(f"seek time must be finite, got {t_s!r}")
        target = min(max(0.0, float(t_s)), self._duration)
        self._catch_up = (target, self.speed, self.paused)
        self.src.resume()
        self.src.seek(0.0)
        self.src.speed = None

    async def __anext__(self) -> RawPacket:
        pkt = await self.src.__anext__()
        if self._catch_up is not None and pkt.t_host >= self._catch_up[0]:
            _target, speed, paused = self._catch_up
            self._catch_up = None
            self.src.speed = speed
            if paused:
                self.src.pause()
        return pkt

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.src.aclose()
            if self._tmpdir is not None:
                self._tmpdir.cleanup()


def _recording_duration(recording) -> float:
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


class BleFeed(PacketSource):
    """Two real sensors over BLE (`sensing.ble.BleSource`); link events go to the session."""

    kind = "ble"

    def __init__(self, targets: Sequence[Any], **ble_kwargs: Any) -> None:
        from sensing.ble import resolve_profile

        profiles = {t.placement: resolve_profile(t.profile) for t in targets}
        rates = {t.placement: t.rate_hz or profiles[t.placement].nominal_hz for t in targets}
        super().__init__(profiles, rates, {t.placement: t.address for t in targets})
        self.targets = list(targets)
        self._ble_kwargs = ble_kwargs
        self.ble = None

    async def __aenter__(self) -> BleFeed:
        from sensing.ble import BleSource

        self.ble = BleSource(
            self.targets, on_event=lambda ev: self._event(ev.t, ev.sensor, ev.event, ev.value), **self._ble_kwargs
        )
        await self.ble.__aenter__()
        return self

    async def __anext__(self) -> RawPacket:
        if self.ble is None:
            raise StopAsyncIteration
        return await self.ble.__anext__()

    async def aclose(self) -> None:
        if self.ble is not None:
            await self.ble.aclose()


class EmulatedFeed(BleFeed):
    """The BLE path end to end with no radio: two emulated sensors (Bumble, `sensing.emulated`)
    stream a simulated set as real packet bytes, and `BleSource` connects to them through bleak.

    The emulated sensors run in real time (`speed` 1.0) on the loop; each sensor's device clock starts
    when it starts streaming, so each one plays the simulated set from the moment its first packet
    is made, aligned to the first sensor's start. The stream ends `tail_s` after the set.
    """

    kind = "emulated"

    def __init__(self, sim: SimulatedSet, profile: Profile, *, speed: float = 1.0, tail_s: float = 0.5,
                 **ble_kwargs: Any) -> None:
        from sensing.ble import SensorTarget

        self.sim = sim
        self.speed_factor = speed
        self.end_s = max(float(s.t[-1]) for s in sim.series.values()) + tail_s
        names = {s: f"hinge-{s}" for s in SENSORS}
        targets = [
            SensorTarget(s, f"C0:00:00:00:00:{k + 1:02X}", profile, sim.rates_hz[s]) for k, s in enumerate(SENSORS)
        ]
        kw = dict(silence_timeout_s=None, start_timeout_s=3.0, scan_timeout_s=5.0)
        kw.update(ble_kwargs)
        super().__init__(targets, **kw)
        self._names = names
        self.radio = None
        self._patch = None
        self._origin: float | None = None

    def _motion(self, sensor: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        series, idx, rate = self.sim.series[sensor], self.sim.index[sensor], self.sim.rates_hz[sensor]
        dense = np.arange(int(idx[-1]) + 1)
        acc = np.column_stack([np.interp(dense, idx, series.acc[:, j]) for j in range(3)])
        gyr = np.column_stack([np.interp(dense, idx, series.gyr[:, j]) for j in range(3)])
        offset: list[float] = []
        loop = asyncio.get_running_loop()

        def motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if not offset:  # first packet of this sensor: align its device clock to the set's time
                now = loop.time()
                if self._origin is None:
                    self._origin = now - float(t[0]) / self.speed_factor
                offset.append((now - self._origin) * self.speed_factor - float(t[0]))
            k = np.clip(np.rint((t + offset[0]) * rate).astype(int), 0, len(dense) - 1)
            return acc[k], gyr[k]

        return motion

    async def __aenter__(self) -> EmulatedFeed:
        from sensing.emulated import EmulatedRadio, SensorSpec

        self.radio = EmulatedRadio(speed=self.speed_factor)
        await self.radio.__aenter__()
        try:
            for k, s in enumerate(SENSORS):
                spec = SensorSpec.from_profile(self.profiles[s], name=self._names[s], motion=self._motion(s))
                await self.radio.add_sensor(spec, address=self.targets[k].address)
            self._patch = self.radio.patched_bleak()
            self._patch.__enter__()
            await super().__aenter__()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __anext__(self) -> RawPacket:
        pkt = await super().__anext__()
        if pkt.t_host > self.end_s:
            raise StopAsyncIteration
        return pkt

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self._patch is not None:
                self._patch.__exit__(None, None, None)
                self._patch = None
            if self.radio is not None:
                radio, self.radio = self.radio, None
                await radio.close()


def simulated_set(exercise: str = "deadlift", reps: int = 6, seed: int = 0, *, rate_hz: float = 200.0,
                  faults: dict[str, float] | None = None, **kw: Any) -> SimulatedSet:
    """A simulated set at one rate for both sensors (what `demo` and the benches stream)."""
    return simulate_set(
        SimConfig(exercise=exercise, reps=reps, seed=seed, rates_hz={s: rate_hz for s in SENSORS}, faults=faults, **kw)
    )


def simulated_feed(sim: SimulatedSet, profile: str | Profile = DEFAULT_PROFILE, *, speed: float | None = 1.0,
                   clock: Clock | None = None) -> SimulatedFeed:
    """A paced `SimulatedFeed` of a simulated set encoded by `profile` (real payload bytes)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    profiles = {s: prof for s in sim.series}
    return SimulatedFeed(simulated_packets(sim, profiles), profiles, sim.rates_hz, speed=speed, clock=clock)


def replay_feed(path: str | Path, *, speed: float | None = 1.0, clock: Clock | None = None) -> ReplayFeed:
    """A `ReplayFeed` for a recording, or for a CSV interchange file (converted to a temporary
    recording through the hinge-ref packet format: values quantised as that firmware sends them)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return ReplayFeed(path, speed=speed, clock=clock)
    if name.endswith((".csv", ".csv.gz")):
        tmp = tempfile.TemporaryDirectory(prefix="hinge-replay-")
        try:
            rec = csv_to_recording(path, Path(tmp.name) / (path.name.split(".")[0] + ".jsonl"))
            return ReplayFeed(rec, speed=speed, clock=clock, tmpdir=tmp, label=str(path))
        except BaseException:
            tmp.cleanup()
            raise
    raise UserError(f"{path}: unknown input type; expected a .jsonl[.gz] recording or a .csv interchange file")


def csv_to_recording(csv_path: str | Path, out: str | Path, profile: str = DEFAULT_PROFILE) -> Path:
    """Write a CSV interchange file as a recording of `profile` packets (sample rate per sensor from the
    median sample spacing; arrival times as a BLE link would deliver them)."""
    from sensing.csvio import read_csv

    series = read_csv(csv_path)
    missing = [s for s in SENSORS if s not in series]
    if missing:
        raise UserError(f"{csv_path}: no rows for sensor {missing[0]!r}; both sacrum and thoracic are needed")
    prof = load_profile(profile)
    rates, index = {}, {}
    for s, ser in series.items():
        if len(ser.t) < 2:
            raise UserError(f"{csv_path}: sensor {s!r} has {len(ser.t)} rows; need at least 2")
        rates[s] = float(1.0 / np.median(np.diff(ser.t)))
        index[s] = np.rint((ser.t - ser.t[0]) * rates[s]).astype(int)
    t0 = min(float(ser.t[0]) for ser in series.values())
    shifted = {s: type(ser)(s, ser.t - t0, ser.acc, ser.gyr) for s, ser in series.items()}
    fake = SimulatedSet(series=shifted, truth={}, truth_t=np.zeros(0), truth_trunk_deg=np.zeros(0),
                        truth_pelvis_deg=np.zeros(0), index=index, rates_hz=rates)
    profiles = {s: prof for s in series}
    out = Path(out)
    sensors = {s: SensorInfo(prof.name, prof.raw_text, name=f"csv:{Path(csv_path).name}", rate_hz=rates[s])
               for s in series}
    with Recorder(out, sensors=sensors, label=f"converted from {csv_path}", app_version=__version__) as rec:
        for pkt in simulated_packets(fake, profiles):
            rec.write_packet(pkt)
    return out


# --------------------------------------------------------------------------------------------------
# What the views pull
# --------------------------------------------------------------------------------------------------
class FrameRing:
    """Fixed-size ring of tracker frames (n, 4): t, pelvis_deg, trunk_deg, lumbar_deg. Thread-safe.

    Memory is fixed at `capacity` rows: a long session never grows it.
    """

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros((max(1, int(capacity)), 4))
        self._n = 0  # rows held
        self._head = 0  # next write position
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return len(self._buf)

    def __len__(self) -> int:
        return self._n

    def extend(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=float).reshape(-1, 4)
        cap = len(self._buf)
        if len(frames) >= cap:
            frames = frames[-cap:]
        k = len(frames)
        if k == 0:
            return
        with self._lock:
            first = min(k, cap - self._head)
            self._buf[self._head : self._head + first] = frames[:first]
            self._buf[: k - first] = frames[first:]
            self._head = (self._head + k) % cap
            self._n = min(cap, self._n + k)

    def clear(self) -> None:
        with self._lock:
            self._n = 0
            self._head = 0

    def newest_t(self) -> float | None:
        """Time of the newest frame (s), or None when empty."""
        with self._lock:
            return float(self._buf[(self._head - 1) % len(self._buf), 0]) if self._n else None

    def latest(self, last_s: float | None = None) -> np.ndarray:
        """A copy of the held frames in time order; with last_s only those within last_s of the newest
        (only those rows are copied: the window pulls its last 10 s 30 times a second)."""
        with self._lock:
            if self._n == 0:
                return np.zeros((0, 4))
            cap = len(self._buf)
            start = (self._head - self._n) % cap
            # the held rows, oldest first, are at most two slices of the buffer
            parts = [self._buf[start : start + self._n]] if start + self._n <= cap else [
                self._buf[start:], self._buf[: self._head]]
            if last_s is not None:
                t_min = float(parts[-1][-1, 0]) - last_s
                if len(parts) == 2 and parts[1][0, 0] <= t_min:
                    parts = parts[1:]
                first = parts[0]
                parts[0] = first[int(np.searchsorted(first[:, 0], t_min, side="left")) :]
            return np.concatenate(parts) if len(parts) == 2 else parts[0].copy()


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
    dropped_packets: int = 0  # corrupt timestamp or counter, or out of order (see sensing.timebase)


@dataclass(frozen=True)
class SessionStatus:
    """state: starting | running | paused | finished | stopped | error. t_s: newest frame time."""

    state: str
    source: str
    calibrated: bool
    sensors: dict[str, SensorStatus]
    t_s: float | None
    reps: int
    position_s: float | None = None
    duration_s: float | None = None
    speed: float | None = None
    error: str | None = None


@dataclass
class _SensorState:
    connected: bool = False
    packets: int = 0
    battery: float | None = None
    recent: deque = field(default_factory=deque)  # (t_first, t_last, n) per block fed


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------
class Session:
    """Source → optional recorder → decoders → tracker → ring buffer, event log and status.

    Args:
        source: a `PacketSource`.
        exercise: analyzer exercise name (recording header and tracker).
        settings: analysis settings (fault limits are `settings.limits`).
        record_to: write every packet and link event to this recording (opened here: a bad path
            fails at once, before anything connects).
        label: recording label.
        ring_s: seconds of frames kept for the views (fixed memory).
        batch_s: packets are decoded and fed to the tracker in rounds: as soon as every sensor has
            a packet queued, or `batch_s` after the first one was queued (a silent sensor), whichever
            comes first. Frames need both sensors' data anyway, so a round costs little latency
            (bench/live_latency.py) and does the work in one burst instead of one wake-up per packet
            (bench/live_cpu_split.py). Output is identical: the tracker is chunk-invariant. 0 = after
            every packet. Sources replaying as fast as possible are always fed in batches.
        clock: session clock (``now()``, ``async sleep()``) for `--duration` and event stamps.
        max_events: event-log length kept for `events_since` (older events drop out).

    Thread model: `ingest` / `flush` run on the loop thread (or a test's thread); `frames`,
    `events_since`, `status`, `reps` and the controls may be called from any thread.
    """

    def __init__(
        self,
        source: PacketSource,
        *,
        exercise: str = "unknown",
        settings: Settings | None = None,
        record_to: str | Path | None = None,
        label: str = "",
        ring_s: float = 30.0,
        batch_s: float = 0.03,
        clock: Clock | None = None,
        max_events: int = 10000,
    ) -> None:
        self.source = source
        self.exercise = exercise
        self.settings = settings or Settings()
        self.batch_s = float(batch_s)
        self.clock: Clock = clock or MonotonicClock()
        self.ring = FrameRing(int(math.ceil(ring_s * max(source.rates_hz.values()))) + 1)
        self._lock = threading.RLock()
        self._events: deque[SessionEvent] = deque(maxlen=max_events)
        self._n_events = 0
        self._reps: list[dict] = []
        self._sensors = {s: _SensorState() for s in source.profiles}
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
        if record_to is not None:
            self.recorder = Recorder(
                record_to, sensors=source.sensor_info(), exercise=exercise if exercise else "unknown",
                label=label, app_version=__version__,
            )
        self.source.on_event = self._on_link_event
        self._reset_pipeline()

    # -- the core (loop thread) --------------------------------------------------------------------
    def _reset_pipeline(self) -> None:
        with self._lock:
            self.streams = self.source.make_streams()
            rates = {s: st.rate_hz for s, st in self.streams.items()}
            self.tracker = Tracker(rates, exercise=self.exercise, settings=self.settings)
            self.ring.clear()
            self._events.clear()
            self._n_events = 0
            self._reps = []
            self._pending = {s: [] for s in self.streams}
            self._n_pending = 0
            self.frames_at = None
            for st in self._sensors.values():
                st.recent.clear()
            self.generation += 1

    def now(self) -> float:
        """Session seconds (the session clock since the session was created / started)."""
        return self.clock.now() - self._t0

    def ingest(self, pkt: RawPacket, *, flush: bool = True) -> None:
        """One packet: record it and queue it; with flush, decode and time what is queued and feed the
        tracker."""
        if self.recorder is not None:
            self.recorder.write_packet(pkt)
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
        for sensor, packets in pending.items():
            if not packets:
                continue
            stream, st = self.streams[sensor], self._sensors[sensor]
            block = stream.feed_many([p.t_host for p in packets], [p.payload for p in packets])
            if block is None:
                continue
            t, acc, gyr = block.t, block.acc, block.gyr  # strictly increasing (the timebase drops the rest)
            out = self.tracker.feed(sensor, t, acc, gyr)
            self._publish(out.frames, out.events, now)
            with self._lock:  # status() reads it from the window's thread
                recent = st.recent
                recent.append((float(t[0]), float(t[-1]), len(t)))
                while len(recent) > 1 and recent[0][1] < t[-1] - _RATE_WINDOW_S:
                    recent.popleft()

    def finish(self) -> None:
        """End of the stream: feed what is pending and close the rep in progress (once)."""
        self.flush()
        if not self._finished_tracker:
            self._finished_tracker = True
            self._publish(np.zeros((0, 4)), self.tracker.finish().events, self.now())

    def _publish(self, frames: np.ndarray, events: list, now: float) -> None:
        if len(frames):
            self.ring.extend(frames)
            self.frames_at = now
        if events:
            with self._lock:
                for ev in events:
                    self._events.append(SessionEvent(now, ev))
                    self._n_events += 1
                    if isinstance(ev, Rep):
                        self._reps.append(ev.rep)

    def _on_link_event(self, t: float, sensor: str, event: str, value: Any) -> None:
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
        ticker = asyncio.ensure_future(self._tick_recorder()) if self.recorder is not None else None
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waiters, ticker):
                if task is not None and not task.done():
                    task.cancel()
            for task in (*waiters, ticker):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self._shutdown_pipeline()
            self._done.set()
        if consumer.done() and not consumer.cancelled() and consumer.exception() is not None:
            raise consumer.exception()

    async def _consume(self) -> None:
        try:
            async with self.source:
                self._set_state("running")
                async for pkt in self.source:
                    live = self.source.speed is not None
                    self.ingest(pkt, flush=live and (self.batch_s <= 0 or self.round_complete()))
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

    async def _tick_recorder(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if self.recorder is not None and not self.recorder.closed:
                self.recorder.tick()

    def _shutdown_pipeline(self) -> None:
        with contextlib.suppress(Exception):
            self.finish()
        if self._state in ("starting", "running"):
            self._set_state("stopped")
        if self.recorder is not None:
            self.recorder.close()

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

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
        elif self._loop is None:  # never ran: nothing connected; close what __init__ opened
            if self.recorder is not None:
                self.recorder.close()
            self._set_state("stopped")
            self._done.set()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- controls (any thread) ----------------------------------------------------------------------
    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._done.is_set():
            return
        try:
            if threading.current_thread() is self._thread or _running_loop() is loop:
                fn()
            else:
                loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def pause(self) -> None:
        if self.source.controllable:
            self._on_loop(self.source.pause)

    def resume(self) -> None:
        if self.source.controllable:
            self._on_loop(self.source.resume)

    def set_speed(self, speed: float | None) -> None:
        if self.source.controllable:
            self._on_loop(lambda: self.source.set_speed(speed))

    def seek(self, t_s: float) -> None:
        """Show the replay from t_s on (the analysis restarts: calibration needs the set's start)."""
        if not self.source.controllable:
            return

        def do() -> None:
            self._reset_pipeline()
            self.source.seek(t_s)

        self._on_loop(do)

    # -- what the views pull (any thread) -----------------------------------------------------------
    def frames(self, last_s: float | None = None) -> np.ndarray:
        """(n, 4) t, pelvis_deg, trunk_deg, lumbar_deg, oldest first (a copy)."""
        return self.ring.latest(last_s)

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
        with self._lock:
            sensors = {}
            for s, st in self._sensors.items():
                stream = self.streams[s]
                n = sum(k for _, _, k in st.recent)
                span = st.recent[-1][1] - st.recent[0][0] if st.recent else 0.0
                rate = (n - 1) / span if span > 0 else 0.0
                sensors[s] = SensorStatus(
                    connected=st.connected, rate_hz=rate, nominal_hz=stream.rate_hz, packets=st.packets,
                    lost_samples=stream.lost_samples, battery=st.battery, address=self.source.addresses.get(s, ""),
                    dropped_packets=stream.dropped_packets,
                )
            state = self._state
            src = self.source
            if state == "running" and src.controllable and src.paused:
                state = "paused"
            return SessionStatus(
                state=state,
                source=src.kind,
                calibrated=self.tracker.calibration is not None,
                sensors=sensors,
                t_s=self.ring.newest_t(),
                reps=len(self._reps),
                position_s=src.position_s,
                duration_s=src.duration_s,
                speed=src.speed,
                error=_describe(self._error) if self._error is not None else None,
            )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def has_display() -> bool:
    """True when a Qt window can be shown (a display, or Qt's offscreen platform chosen)."""
    import os

    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return True
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wall_clock_deadline(duration_s: float | None) -> float | None:
    """Monotonic time at which a `--duration` ends (None: no limit)."""
    return None if duration_s is None else time.monotonic() + duration_s
