"""The app's BLE client on plain bleak: find sensors, stream two of them as `RawPacket`s.

`scan()` lists advertising devices that match a firmware profile. `BleSource` connects to one
sensor per placement, configures and starts each as its profile says, and yields every
notification payload as a `hinge.sensing.types.RawPacket` — the same async iterator the simulator and the
replay reader implement.

Runtime model (docs/ARCHITECTURE.md §8): everything runs on one event loop. Connects are serialised by
one lock (parallel connects fail on BlueZ) and go through bleak-retry-connector's
`establish_connection`. Notification callbacks do O(1) work: stamp `time.monotonic()`, wrap the
bytes, `put_nowait` into one bounded queue; when the queue is full the packet is dropped and counted
in `SensorStats.overflow_lost`. A supervisor task per sensor waits for a drop (bleak's disconnected
callback) or for data silence longer than `silence_timeout_s` (real stacks notice a dead link only
after the supervision timeout, seconds later), then reconnects with exponential backoff; the other
sensor keeps streaming. Connect / disconnect / battery events go to `on_event` (the recorder writes
them) and to `BleSource.events`.

Linux: bleak's BlueZ backend. `adapter` ('hci0', ...) selects the Bluetooth adapter for scans and
connections (bleak's `bluez={"adapter": ...}`); the ATT MTU is asked for after connecting (BlueZ
reports it only through bleak's private `_acquire_mtu`). Tested against BlueZoo (`tests/bluez`).

A Bluetooth stack that cannot be used (no adapter, adapter off, no permission, BlueZ or D-Bus not
running) raises `BluetoothUnavailable`, one line saying what is missing and what to do, whatever form
bleak's backend gave it (`stack_problem`); `check_bluetooth()` asks before anything connects. A sensor
not seen within `FIND_TIMEOUT_S` raises `SensorNotFound`.

Size (~610 lines, at the ~600 guideline): scanning, connecting, supervising and the per-sensor state share
the one lock, queue and event callback; the stack's error forms live apart in `hinge.sensing.ble_stack`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from hinge.sensing.ble_stack import BluetoothUnavailable, stack_problem
from hinge.sensing.errors import InputError, describe_error
from hinge.sensing.profiles import Command, Profile
from hinge.sensing.profiles import available as available_profiles
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.types import SENSORS, RawPacket

logger = logging.getLogger(__name__)

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
DEFAULT_QUEUE_SIZE = 4096
"""Packets buffered between the radio and the consumer (both sensors): ~10 s at 2 × 200 Hz."""


def resolve_profile(profile: str | Profile) -> Profile:
    """A `Profile` from a stem / path (loaded) or a `Profile` (returned as is)."""
    return profile if isinstance(profile, Profile) else load_profile(profile)


def all_profiles() -> list[Profile]:
    """Every profile shipped in `firmware_profiles/`."""
    return [load_profile(name) for name in available_profiles()]


# --------------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """An advertising sensor that matches a profile. `battery` (%) only when advertised."""

    name: str
    address: str
    rssi: int
    profile: str
    battery: int | None = None


def _battery_from_adv(adv: AdvertisementData) -> int | None:
    data = adv.service_data.get(BATTERY_SERVICE_UUID)
    return int(data[0]) if data else None


def _match(profiles: Sequence[Profile], name: str | None, uuids: Iterable[str]) -> Profile | None:
    uuids = list(uuids)
    for profile in profiles:
        if profile.matches(name, uuids):
            return profile
    return None


def adapter_kwargs(adapter: str | None) -> dict[str, Any]:
    """bleak's keyword arguments selecting a Bluetooth adapter (Linux/BlueZ: 'hci0', 'hci1', ...;
    None: the system's default adapter). Other backends ignore them."""
    return {} if adapter is None else {"bluez": {"adapter": adapter}}


FIND_TIMEOUT_S = 10.0
"""How long `BleSource` looks for a sensor's address before saying it is not there."""


class SensorNotFound(InputError):
    """A sensor's address was not seen advertising within the wait."""


async def check_bluetooth(adapter: str | None = None, backend: type | None = None) -> None:
    """Start and stop a scan: raises `BluetoothUnavailable` (one line: what is missing, what to do)
    when the Bluetooth stack cannot be used, before anything is connected or recorded."""
    try:
        async with BleakScanner(backend=backend, **adapter_kwargs(adapter)):
            pass
    except (BleakError, OSError) as exc:
        problem = stack_problem(exc, adapter)
        if problem is None:
            raise BluetoothUnavailable(f"Bluetooth: {describe_error(exc)}") from exc
        raise BluetoothUnavailable(problem) from exc


async def scan(timeout: float = 5.0, backend: type | None = None, *,
               profiles: Sequence[str | Profile] | None = None, stop_after: int | None = None,
               adapter: str | None = None) -> list[Found]:
    """Scan for `timeout` s (or until `stop_after` matching sensors were seen) and return the
    devices matching a profile, strongest signal first. Devices matching no profile are ignored.

    profiles: stems or `Profile`s to match against (default: all shipped profiles).
    backend: a bleak scanner backend class (default: bleak's platform backend).
    adapter: Bluetooth adapter to scan with (Linux: 'hci0', ...; default: the system's default).
    An adapter that does not exist raises `InputError` naming it.
    """
    candidates = [resolve_profile(p) for p in profiles] if profiles is not None else all_profiles()
    found: dict[str, Found] = {}
    enough = asyncio.Event()

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name
        profile = _match(candidates, name, adv.service_uuids)
        if profile is None:
            return
        found[device.address] = Found(name=name or device.address, address=device.address, rssi=adv.rssi,
                                      profile=profile.name, battery=_battery_from_adv(adv))
        if stop_after is not None and len(found) >= stop_after:
            enough.set()

    try:
        async with BleakScanner(on_advert, backend=backend, **adapter_kwargs(adapter)):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout)
    except (BleakError, OSError) as exc:
        problem = stack_problem(exc, adapter)
        if problem is not None:
            raise BluetoothUnavailable(problem) from exc
        raise InputError(f"scan failed: {describe_error(exc)}") from exc
    return sorted(found.values(), key=lambda f: (-f.rssi, f.address))


# --------------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SensorTarget:
    """Which device to use for one placement (`sacrum` / `thoracic`) and how to talk to it."""

    placement: str
    address: str
    profile: str | Profile
    """Profile stem or `hinge.sensing.profiles.Profile`."""
    rate_hz: float | None = None
    """Sample rate to configure (None: the profile's nominal rate)."""


@dataclass(frozen=True)
class LinkEvent:
    """A connection event. `t` in session seconds (same clock as `RawPacket.t_host`);
    `event` is 'connected' (value: address), 'disconnected' (value: reason) or 'battery' (value: %)."""

    t: float
    sensor: str
    event: str
    value: Any = None

    @property
    def t_host(self) -> float:
        """`t`, under the name a recording's `Event` has (`hinge.sensing.source.LinkCallback`)."""
        return self.t


@dataclass
class SensorStats:
    """Per-sensor counters. `overflow_lost`: packets dropped because the queue was full."""

    packets: int = 0
    overflow_lost: int = 0
    connects: int = 0
    drops: int = 0
    start_failures: int = 0
    mtu: int | None = None
    """ATT MTU of the current connection, when the backend tells (BlueZ: acquired after connecting)."""


class StartError(InputError):
    """A sensor connected but sent no data after its start command."""


class _Lost(Exception):
    pass


@dataclass
class _Slot:
    target: SensorTarget
    profile: Profile
    rate_hz: float
    rate_cmds: list[Command]
    start_cmds: list[Command]
    stop_cmds: list[Command]
    stats: SensorStats = field(default_factory=SensorStats)
    client: BleakClient | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    lost_reason: str = ""
    first_packet: asyncio.Event = field(default_factory=asyncio.Event)
    last_rx: float = 0.0
    supervisor: asyncio.Task[None] | None = None

    @property
    def placement(self) -> str:
        return self.target.placement


class BleSource:
    """Async iterator of `RawPacket` from two BLE sensors (async context manager).

    ``async with BleSource(targets) as src: async for pkt in src: ...``

    targets: one `SensorTarget` per placement; a placement or address given twice raises
    `InputError`. Entering connects to each sensor in turn, subscribes, writes the profile's
    configuration and start commands and waits for the first packet (`start_timeout_s`); any
    failure there raises `InputError` naming the sensor. Afterwards a drop or `silence_timeout_s` of
    silence triggers a reconnect (backoff `backoff_s` = (first, max) seconds, retried until closed).
    `clock` stamps packets (monotonic seconds); `RawPacket.t_host` = clock() − `t0` (default: the
    clock when entering). `backend` / `scanner_backend`: bleak client / scanner backend classes, passed
    to bleak as its own ``backend=`` (default: the platform's; `hinge.sensing.emulated` passes its radio's).
    `adapter`: the Bluetooth adapter to use (Linux: 'hci0', ...; default: the system's default adapter).
    A `hinge.sensing.source.PacketSource`; `on_event` may also be set as an attribute before entering.
    """

    kind = "ble"

    def __init__(
        self,
        targets: Sequence[SensorTarget],
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        silence_timeout_s: float | None = 2.0,
        start_timeout_s: float = 3.0,
        scan_timeout_s: float = FIND_TIMEOUT_S,
        backoff_s: tuple[float, float] = (0.25, 4.0),
        connect_attempts: int = 3,
        on_event: Callable[[LinkEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        t0: float | None = None,
        backend: type | None = None,
        scanner_backend: type | None = None,
        adapter: str | None = None,
    ) -> None:
        _check_targets(targets)
        self._slots = [_make_slot(t) for t in targets]
        self._queue: asyncio.Queue[RawPacket] = asyncio.Queue(maxsize=queue_size)
        self.silence_timeout_s = silence_timeout_s
        self.start_timeout_s = start_timeout_s
        self.scan_timeout_s = scan_timeout_s
        self.backoff_s = backoff_s
        self.connect_attempts = connect_attempts
        self.on_event = on_event
        self.backend = backend
        self.scanner_backend = scanner_backend
        self._clock = clock
        self._t0 = t0
        self.adapter = adapter
        self._lock = asyncio.Lock()
        self._closed = asyncio.Event()
        self._closing = False
        self.events: deque[LinkEvent] = deque(maxlen=1000)

    # -- public state --------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, SensorStats]:
        return {s.placement: s.stats for s in self._slots}

    @property
    def profiles(self) -> dict[str, Profile]:
        """Placement -> profile (the recorder stores `Profile.raw_text` in its header)."""
        return {s.placement: s.profile for s in self._slots}

    @property
    def rates_hz(self) -> dict[str, float]:
        """Placement -> configured sample rate (Hz)."""
        return {s.placement: s.rate_hz for s in self._slots}

    @property
    def addresses(self) -> dict[str, str]:
        """Placement -> device address."""
        return {s.placement: s.target.address for s in self._slots}

    @property
    def t0(self) -> float:
        return self._t0 if self._t0 is not None else 0.0

    def connected(self, placement: str) -> bool:
        slot = self._slot(placement)
        return slot.client is not None and slot.client.is_connected

    # -- lifecycle -----------------------------------------------------------------------------------
    async def __aenter__(self) -> BleSource:
        if self._t0 is None:
            self._t0 = self._clock()
        try:
            for slot in self._slots:
                try:
                    await self._open(slot)
                except (StartError, SensorNotFound):
                    raise
                except (BleakError, OSError, asyncio.TimeoutError, _Lost) as exc:
                    problem = stack_problem(exc, self.adapter)
                    if problem is not None:
                        raise BluetoothUnavailable(problem) from exc
                    raise InputError(f"{slot.placement}: could not connect to {slot.target.address} "
                                     f"(profile {slot.profile.name}): {describe_error(exc)}") from exc
            for slot in self._slots:
                slot.supervisor = asyncio.get_running_loop().create_task(
                    self._supervise(slot), name=f"ble supervisor {slot.placement}")
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop supervisors, send stop commands, disconnect both sensors (idempotent)."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            tasks = [s.supervisor for s in self._slots if s.supervisor is not None]
            for slot in self._slots:
                slot.supervisor = None
                slot.lost.set()  # wakes a supervisor that swallowed its cancellation (3.11 wait_for race)
            for task in tasks:
                task.cancel()
            if tasks:
                # asyncio.wait: our own cancellation (Ctrl-C twice) still propagates
                _, pending = await asyncio.wait(tasks, timeout=5.0)
                if pending:
                    logger.warning("BLE supervisors did not stop: %s", [t.get_name() for t in pending])
            for slot in self._slots:
                await self._teardown(slot, "closed", send_stop=True)
        finally:
            self._closed.set()

    # -- iteration -----------------------------------------------------------------------------------
    def __aiter__(self) -> BleSource:
        return self

    async def __anext__(self) -> RawPacket:
        queue = self._queue
        if not queue.empty():
            return queue.get_nowait()
        if self._closing:
            raise StopAsyncIteration
        getter = asyncio.ensure_future(queue.get())
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((getter, closer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closer.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise StopAsyncIteration

    # -- internals -----------------------------------------------------------------------------------
    def _slot(self, placement: str) -> _Slot:
        for s in self._slots:
            if s.placement == placement:
                return s
        raise KeyError(placement)

    def _emit(self, slot: _Slot, event: str, value: Any = None) -> None:
        ev = LinkEvent(self._clock() - self.t0, slot.placement, event, value)
        self.events.append(ev)
        logger.info("%s: %s %s", slot.placement, event, value if value is not None else "")
        if self.on_event is not None:
            self.on_event(ev)

    def _make_callback(self, slot: _Slot) -> Callable[[Any, bytearray], None]:
        queue, clock, stats, placement, t0 = self._queue, self._clock, slot.stats, slot.placement, self.t0
        first = slot.first_packet

        def on_notify(_char: Any, data: bytearray) -> None:
            t = clock()
            slot.last_rx = t
            stats.packets += 1
            first.set()
            try:
                queue.put_nowait(RawPacket(t - t0, placement, bytes(data)))
            except asyncio.QueueFull:
                stats.overflow_lost += 1

        return on_notify

    def _on_disconnect(self, slot: _Slot, client: BleakClient) -> None:
        if slot.client is client and not slot.lost.is_set():
            slot.lost_reason = "link lost"
            slot.lost.set()

    async def _open(self, slot: _Slot) -> None:
        """Connect (serialised), subscribe, configure, start; wait for the first packet."""
        profile, target = slot.profile, slot.target
        slot.lost.clear()
        slot.lost_reason = ""
        slot.first_packet.clear()
        async with self._lock:
            bluez = adapter_kwargs(self.adapter)
            device = await BleakScanner.find_device_by_address(target.address, timeout=self.scan_timeout_s,
                                                               backend=self.scanner_backend, **bluez)
            if device is None:
                raise SensorNotFound(f"{slot.placement} sensor {target.address}: not found within "
                                     f"{self.scan_timeout_s:g} s: is it on and advertising?")
            client = await establish_connection(
                BleakClient, device, f"{slot.placement} {target.address}",
                disconnected_callback=lambda c: self._on_disconnect(slot, c),
                max_attempts=self.connect_attempts, backend=self.backend, **bluez,
            )
        slot.client = client
        slot.stats.connects += 1
        self._emit(slot, "connected", target.address)
        await self._ensure_mtu(slot, client)
        slot.last_rx = self._clock()
        # rate first: a firmware that streams as soon as notifications are on then starts at the right
        # rate; the start command goes after subscribing, so no packet is lost before start_notify
        await self._write(client, slot.rate_cmds)
        await client.start_notify(profile.notify, self._make_callback(slot))
        await self._write(client, slot.start_cmds)
        await self._read_battery(slot, client)
        if not slot.first_packet.is_set():
            waiter = asyncio.ensure_future(slot.first_packet.wait())
            lost = asyncio.ensure_future(slot.lost.wait())
            try:
                await asyncio.wait((waiter, lost), timeout=self.start_timeout_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                lost.cancel()
            if slot.lost.is_set():
                raise _Lost(slot.lost_reason or "link lost while starting")
            if not slot.first_packet.is_set():
                slot.stats.start_failures += 1
                msg = (f"{slot.placement}: {target.address} sent no data within {self.start_timeout_s:g} s "
                       f"after the start command (profile {profile.name}; wrong profile or sensor busy?)")
                await self._teardown(slot, "no data after start command")
                raise StartError(msg)

    async def _ensure_mtu(self, slot: _Slot, client: BleakClient) -> None:
        """Learn the ATT MTU and warn when it is below what the profile's packets need.

        BlueZ's backend does not know the MTU until its private `_acquire_mtu` asks BlueZ
        (AcquireWrite / AcquireNotify); until then `mtu_size` warns and answers 23. So on BlueZ ask
        first, whatever the profile needs; other backends know it from the connection.
        """
        need = slot.profile.mtu
        acquire = getattr(client._backend, "_acquire_mtu", None)  # BlueZ only; see bleak's mtu_size docs
        if acquire is not None:
            try:
                await acquire()
            except Exception as exc:  # noqa: BLE001 - a peripheral may refuse both Acquire* calls
                logger.warning(
                    "%s: could not acquire the ATT MTU (%s); assuming 23", slot.placement, describe_error(exc)
                )
                client._backend._mtu_size = 23  # what BlueZ's backend assumes anyway, without its warning
        slot.stats.mtu = client.mtu_size
        if client.mtu_size < need:
            logger.warning("%s: ATT MTU is %d but profile %s needs %d; packets may be truncated",
                           slot.placement, client.mtu_size, slot.profile.name, need)

    async def _write(self, client: BleakClient, commands: Sequence[Command]) -> None:
        for cmd in commands:
            await client.write_gatt_char(cmd.char_uuid, cmd.data, response=cmd.with_response)
            if cmd.delay_s > 0:
                await asyncio.sleep(cmd.delay_s)

    async def _read_battery(self, slot: _Slot, client: BleakClient) -> None:
        """GATT battery: read it and emit a 'battery' event (value in the profile's unit).
        Command battery: ask; the reply arrives in the data stream for the decoder."""
        battery = slot.profile.battery
        try:
            if battery.kind == "gatt":
                raw = await client.read_gatt_char(battery.char)
                value = _battery_value(slot.profile, bytes(raw))
                if value is not None:
                    self._emit(slot, "battery", value)
            elif battery.kind == "command":
                await client.write_gatt_char(slot.profile.write, battery.command, response=False)
        except (BleakError, asyncio.TimeoutError) as exc:
            logger.debug("%s: battery read failed: %s", slot.placement, describe_error(exc))

    async def _teardown(self, slot: _Slot, reason: str, *, send_stop: bool = False) -> None:
        client, slot.client = slot.client, None
        if client is None:
            return
        if client.is_connected:
            async def stop_and_disconnect() -> None:
                if send_stop:
                    with contextlib.suppress(Exception):
                        await self._write(client, slot.stop_cmds)
                await client.disconnect()

            try:
                await asyncio.wait_for(stop_and_disconnect(), 2.0)
            except Exception as exc:  # noqa: BLE001 - the link may already be gone
                logger.debug("%s: disconnect: %s", slot.placement, describe_error(exc))
        self._emit(slot, "disconnected", reason)

    async def _wait_lost(self, slot: _Slot) -> str:
        """Wait for a drop or for data silence; return the reason."""
        silence = self.silence_timeout_s
        if silence is not None:  # never shorter than 3 packet intervals (slow rates, big packets)
            silence = max(silence, 3 * slot.profile.samples_per_packet / slot.rate_hz)
        while True:
            if silence is None:
                await slot.lost.wait()
                return slot.lost_reason
            remaining = slot.last_rx + silence - self._clock()
            if remaining <= 0:
                return f"no data for {silence:g} s"
            try:
                await asyncio.wait_for(slot.lost.wait(), remaining)
                return slot.lost_reason
            except asyncio.TimeoutError:
                continue

    async def _supervise(self, slot: _Slot) -> None:
        first, cap = self.backoff_s
        while not self._closing:
            reason = await self._wait_lost(slot)
            if self._closing:
                return
            slot.stats.drops += 1
            await self._teardown(slot, reason)
            delay = first
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._open(slot)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any failure: back off and retry
                    logger.info("%s: reconnect failed: %s", slot.placement, describe_error(exc))
                    await self._teardown(slot, f"reconnect failed: {describe_error(exc)}")
                    delay = min(cap, delay * 2)


_BATTERY_FORMATS = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i"}


def _battery_value(profile: Profile, raw: bytes) -> float | int | None:
    b = profile.battery
    fmt = _BATTERY_FORMATS.get(b.type, "<B")
    if profile.byte_order == "big":
        fmt = ">" + fmt[1:]
    if len(raw) < struct.calcsize(fmt):
        return None
    value = struct.unpack_from(fmt, raw)[0] * b.scale
    return int(round(value)) if b.unit == "%" else round(value, 3)


def _make_slot(target: SensorTarget) -> _Slot:
    """Resolve the profile and the commands for one target; bad rates fail here, naming the sensor."""
    profile = resolve_profile(target.profile)
    rate = float(target.rate_hz if target.rate_hz is not None else profile.nominal_hz)
    if profile.supported_hz and rate not in profile.supported_hz:
        rates = ", ".join(f"{r:g}" for r in profile.supported_hz)
        raise InputError(f"{target.placement}: rate {rate:g} Hz not supported by profile {profile.name} "
                         f"(supported: {rates} Hz)")
    return _Slot(target, profile, rate, profile.commands("set_rate", rate), profile.commands("start", rate),
                 profile.commands("stop", rate))


def _check_targets(targets: Sequence[SensorTarget]) -> None:
    seen: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for t in targets:
        if t.placement not in SENSORS:
            raise InputError(f"sensor placement {t.placement!r}: expected one of {', '.join(SENSORS)}")
        if t.placement in seen:
            raise InputError(f"sensor placement {t.placement!r} given twice "
                             f"({seen[t.placement]} and {t.address})")
        if t.address.upper() in addresses:
            raise InputError(f"sensor {t.address} given for both "
                             f"{addresses[t.address.upper()]} and {t.placement}")
        seen[t.placement] = t.address
        addresses[t.address.upper()] = t.placement
    if not targets:
        raise InputError("no sensors given")
