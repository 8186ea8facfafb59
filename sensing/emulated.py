"""Emulated BLE IMU sensors: Bumble GATT peripherals on an in-process virtual radio.

`EmulatedRadio` owns one `bumble.link.LocalLink`, the central (our "adapter", see
`hinge.sensing.bumble_backend`) and any number of `EmulatedSensor` peripherals. Each sensor reproduces a
firmware's GATT layout (service, notify and command characteristics, battery), advertises its name
and service UUIDs, answers commands (rate, start, stop, register read-back) and streams real packet
bytes from a `PacketMaker`; `SensorSpec.from_profile` builds all of that from a
`hinge.sensing.profiles.Profile`, streaming `profile.encode(...)` of a known motion.

Time: the device clock advances by samples_per_packet / rate_hz per packet sent (the counter and
clock pause while not streaming). `speed` maps device time to host time: 1.0 is real time, None
streams as fast as the event loop allows (tests, benches), yielding after every packet so the
central keeps up.

Fault injection (all async, on `EmulatedSensor`): `drop()` (link lost, the sensor re-advertises),
`go_silent()` / `resume()` (connected but no data), `power_off()` / `power_on()` (gone from the air),
`refuse_start` (start command accepted but never acted on), `garbage_every` (random payloads
instead of every n-th packet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from bumble import hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink

from hinge.sensing.bumble_backend import BumbleCentral
from hinge.sensing.profiles import G0

logger = logging.getLogger(__name__)

BATTERY_SERVICE_UUID = "180F"
BATTERY_LEVEL_UUID = "2A19"
ADV_INTERVAL_MS = 20.0
"""Advertising interval of the fakes (ms): a virtual controller completes a connect only on the
target's next advert, so 20 ms keeps scan and connect at a few tens of ms."""


# --------------------------------------------------------------------------------------------------
# What a sensor sends
# --------------------------------------------------------------------------------------------------
class PacketMaker(Protocol):
    """Turns the k-th packet slot of a sensor's stream into notification payloads."""

    samples_per_packet: int

    def make(self, k: int, t_s: float, rate_hz: float) -> list[bytes]:
        """Payload(s) carrying samples k·spp … (k+1)·spp − 1 sampled at `rate_hz`, the first one at
        device time `t_s` (seconds)."""
        ...


def default_motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A slow hinge-like sway: t (n,) s -> acc (n, 3) m/s², gyr (n, 3) rad/s in the sensor frame."""
    angle = 0.6 * np.sin(2 * np.pi * 0.25 * t)
    rate = 0.6 * 2 * np.pi * 0.25 * np.cos(2 * np.pi * 0.25 * t)
    acc = np.stack([G0 * np.sin(angle), np.zeros_like(t), G0 * np.cos(angle)], axis=1)
    gyr = np.stack([np.zeros_like(t), rate, np.zeros_like(t)], axis=1)
    return acc, gyr


@dataclass
class CounterPackets:
    """Minimal test format (no profile needed): one sample per packet,
    ``<u32 seq><u32 device time µs>`` followed by `pad` zero bytes."""

    pad: int = 12
    samples_per_packet: int = 1

    def make(self, k: int, t_s: float, rate_hz: float) -> list[bytes]:
        t_us = round(t_s * 1e6) & 0xFFFFFFFF
        return [k.to_bytes(4, "little") + t_us.to_bytes(4, "little") + bytes(self.pad)]


@dataclass
class ProfilePackets:
    """Real packet bytes from a firmware profile's `encode` over a motion (ground truth)."""

    profile: Any
    motion: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] = default_motion

    @property
    def samples_per_packet(self) -> int:
        return int(self.profile.samples_per_packet)

    def make(self, k: int, t_s: float, rate_hz: float) -> list[bytes]:
        spp = self.samples_per_packet
        idx = np.arange(k * spp, (k + 1) * spp)
        t = t_s + np.arange(spp) / rate_hz
        acc, gyr = self.motion(t)
        return self.profile.encode(acc, gyr, seq=idx, device_time_s=t, rate_hz=rate_hz)


# --------------------------------------------------------------------------------------------------
# GATT layout + command set of one firmware
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """What a command written to the sensor does: start (True) or stop (False) streaming, select a
    sample rate, and/or notify a reply on the data characteristic (e.g. a register read-back)."""

    start: bool | None = None
    rate_hz: float | None = None
    reply: bytes | None = None


@dataclass(frozen=True)
class SensorSpec:
    """Everything an emulated sensor needs to look like one firmware on the air.

    UUIDs are strings as bleak writes them (16-bit 'ffe4' or full 128-bit). `write_uuids`: the
    characteristics that accept commands; `commands` maps a command's exact bytes to its effect
    (unknown commands are accepted and ignored). `streams_on_subscribe`: the firmware streams as
    soon as notifications are enabled (no start command). `battery`: (service, characteristic) of a
    readable battery value `battery_value`, or None.
    """

    name: str
    service_uuid: str
    notify_uuid: str
    write_uuids: tuple[str, ...] = ()
    commands: Mapping[bytes, Action] = field(default_factory=dict)
    streams_on_subscribe: bool = False
    rate_hz: float = 100.0
    advertised_uuids: tuple[str, ...] = ()
    battery: tuple[str, str] | None = (BATTERY_SERVICE_UUID, BATTERY_LEVEL_UUID)
    battery_value: bytes = bytes([87])
    packets: PacketMaker = field(default_factory=CounterPackets)

    @classmethod
    def from_profile(cls, profile: Any, *, name: str | None = None, rate_hz: float | None = None,
                     motion: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] = default_motion,
                     **overrides: Any) -> SensorSpec:
        """The GATT layout, advert and command set of a `hinge.sensing.profiles.Profile`, streaming real
        `profile.encode` packets of `motion`. The sensor starts at `rate_hz` (default: the lowest
        supported rate, so a client that forgets to configure the rate is caught)."""
        if name is None:
            pattern = profile.name_patterns[0] if profile.name_patterns else "emulated-*"
            name = pattern.replace("*", "01").replace("?", "0")
        rates = sorted(profile.rate_codes) or sorted(profile.supported_hz) or [profile.nominal_hz]
        write_uuids = tuple(dict.fromkeys(
            ([profile.write] if profile.write else [])
            + [c.char_uuid for kind in ("set_rate", "start", "stop") for c in profile.commands(kind, rates[0])]
        ))
        battery, battery_value, commands = None, b"", _profile_actions(profile, rates)
        kind = profile.battery.kind
        if kind == "gatt":
            battery = (profile.battery.service, profile.battery.char)
            battery_value = _battery_bytes(profile)
        elif kind == "command":
            b = profile.battery
            value = _battery_bytes(profile)
            reply = bytearray(max(profile.frame_size(1), b.offset + len(value)))
            reply[: len(b.reply_prefix)] = b.reply_prefix
            reply[b.offset : b.offset + len(value)] = value
            commands[bytes(b.command)] = Action(reply=bytes(reply))
        kw: dict[str, Any] = dict(
            name=name, service_uuid=profile.service, notify_uuid=profile.notify, write_uuids=write_uuids,
            commands=commands, streams_on_subscribe=not profile.commands("start", rates[0]),
            rate_hz=float(rate_hz if rate_hz is not None else rates[0]),
            advertised_uuids=tuple(profile.service_uuids), battery=battery, battery_value=battery_value,
            packets=ProfilePackets(profile, motion),
        )
        kw.update(overrides)
        return cls(**kw)


_BATTERY_FORMATS = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i"}


def _battery_bytes(profile: Any) -> bytes:
    """A plausible battery reading (87 % or 3.90 V) in the profile's battery encoding."""
    b = profile.battery
    value = 87.0 if b.unit == "%" else 3.9
    fmt = _BATTERY_FORMATS.get(b.type, "<B")
    if getattr(profile, "byte_order", "little") == "big":
        fmt = ">" + fmt[1:]
    return struct.pack(fmt, round(value / (b.scale or 1.0)))


def _profile_actions(profile: Any, rates: Sequence[float]) -> dict[bytes, Action]:
    """Map each command's bytes to its effect. A step whose bytes differ between rates selects that
    rate; steps identical for every rate (unlock, save) have no effect on the stream."""
    table: dict[bytes, Action] = {}
    for kind, start in (("set_rate", None), ("start", True), ("stop", False)):
        rates_of: dict[bytes, set[float]] = {}
        for r in rates:
            for cmd in profile.commands(kind, r):
                rates_of.setdefault(bytes(cmd.data), set()).add(r)
        for data, rs in rates_of.items():
            rate = next(iter(rs)) if len(rs) == 1 and len(rates) > 1 else None
            if start is None and rate is None:
                continue
            table[data] = Action(start=start, rate_hz=rate)
    return table


def _uuid(text: str) -> UUID:
    return UUID(text.replace("-", "") if len(text) == 36 else text)


# --------------------------------------------------------------------------------------------------
# What a sensor's firmware does, whatever carries it (Bumble here, BlueZ's D-Bus API in
# `hinge.sensing.bluez_peripheral`)
# --------------------------------------------------------------------------------------------------
class Firmware:
    """The command and streaming state of one emulated sensor, with no transport: commands select
    the rate and start / stop the stream, and `next_payloads()` makes the next packet slot's bytes.

    Streams when started (or subscribed, for firmware that streams on subscribe), subscribed and
    not silenced. The sample counter and device clock pause while not streaming and carry on across
    connections, as a real sensor's do. Counters (`packets_sent`, `garbage_sent`, `commands`) are
    ground truth for tests.
    """

    def __init__(self, spec: SensorSpec, *, seed: int = 0) -> None:
        self.spec = spec
        self.rate_hz = float(spec.rate_hz)
        self.refuse_start = False
        self.garbage_every: int | None = None
        self.streaming = False
        self.subscribed = False
        self.silent = False
        self.packets_sent = 0
        self.garbage_sent = 0
        self.commands: list[bytes] = []
        self._rng = np.random.default_rng(seed)
        self._k = 0  # next packet slot
        self._t_dev = 0.0  # device time (s) of the next packet's first sample

    @property
    def active(self) -> bool:
        """Packets are due: streaming, subscribed and not silenced."""
        return self.streaming and self.subscribed and not self.silent

    @property
    def tick_s(self) -> float:
        """Device time between two packet slots (s)."""
        return self.spec.packets.samples_per_packet / self.rate_hz

    def subscribe(self, on: bool) -> None:
        self.subscribed = on
        if on and self.spec.streams_on_subscribe:
            self.streaming = True
        if not on:
            self.streaming = False

    def link_lost(self) -> None:
        """The connection ended: no subscription, no stream, no stall."""
        self.subscribed = self.streaming = self.silent = False

    def write(self, value: bytes) -> bytes | None:
        """A command written to the sensor; returns the reply to notify on the data characteristic
        (None: no reply, or not subscribed)."""
        value = bytes(value)
        self.commands.append(value)
        action = self.spec.commands.get(value)
        if action is None:
            return None
        if action.rate_hz is not None:
            self.rate_hz = float(action.rate_hz)
        if action.start is True and not self.refuse_start:
            self.streaming = True
        elif action.start is False:
            self.streaming = False
        return action.reply if self.subscribed else None

    def next_payloads(self) -> list[bytes]:
        """The next packet slot's payload(s); advances the counter and the device clock."""
        k = self._k
        if self.garbage_every and (k + 1) % self.garbage_every == 0:
            self.garbage_sent += 1
            n = int(self._rng.integers(1, 40))
            payloads = [self._rng.integers(0, 256, n, dtype=np.uint8).tobytes()]
        else:
            payloads = self.spec.packets.make(k, self._t_dev, self.rate_hz)
        self._k = k + 1
        self._t_dev += self.tick_s
        self.packets_sent += 1
        return payloads


# --------------------------------------------------------------------------------------------------
# One emulated sensor
# --------------------------------------------------------------------------------------------------
class EmulatedSensor:
    """A Bumble peripheral emulating one IMU (create through `EmulatedRadio.add_sensor`)."""

    def __init__(self, link: LocalLink, spec: SensorSpec, address: str, *, speed: float | None,
                 seed: int = 0):
        self.spec = spec
        self.address = address
        self.speed = speed
        self.fw = Firmware(spec, seed=seed)
        self.controller = Controller(f"sensor-{address}", link=link)
        self.device = Device(name=spec.name, address=hci.Address(address))
        self.device.host = Host()
        self.device.host.controller = self.controller
        self._conn: Connection | None = None
        self._powered = False
        self._task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._sent_cond = asyncio.Condition()
        self.connections = 0  # ground truth for tests, as the firmware's counters
        self._build_gatt()
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)

    # -- the firmware's state (settable knobs and counters) -------------------------------------------
    @property
    def rate_hz(self) -> float:
        return self.fw.rate_hz

    @property
    def refuse_start(self) -> bool:
        return self.fw.refuse_start

    @refuse_start.setter
    def refuse_start(self, value: bool) -> None:
        self.fw.refuse_start = value

    @property
    def garbage_every(self) -> int | None:
        return self.fw.garbage_every

    @garbage_every.setter
    def garbage_every(self, value: int | None) -> None:
        self.fw.garbage_every = value

    @property
    def packets_sent(self) -> int:
        return self.fw.packets_sent

    @property
    def garbage_sent(self) -> int:
        return self.fw.garbage_sent

    @property
    def commands(self) -> list[bytes]:
        return self.fw.commands

    # -- setup ---------------------------------------------------------------------------------------
    def _build_gatt(self) -> None:
        spec = self.spec
        props = Characteristic.Properties
        notify_uuid = _uuid(spec.notify_uuid)
        write_uuids = [_uuid(u) for u in spec.write_uuids]
        data_props = props.NOTIFY
        data_perm = Characteristic.READABLE
        data_value: Any = b""
        if notify_uuid in write_uuids:  # one characteristic for data and commands (some firmwares)
            data_props |= props.WRITE | props.WRITE_WITHOUT_RESPONSE
            data_perm |= Characteristic.WRITEABLE
            data_value = CharacteristicValue(read=lambda _c: b"", write=self._on_write)
        self._data_char = Characteristic(notify_uuid, data_props, data_perm, data_value)
        self._data_char.on("subscription", self._on_subscription)
        chars: list[Characteristic] = [self._data_char]
        for u in dict.fromkeys(write_uuids):
            if u != notify_uuid:
                chars.append(Characteristic(u, props.WRITE | props.WRITE_WITHOUT_RESPONSE,
                                            Characteristic.WRITEABLE, CharacteristicValue(write=self._on_write)))
        services = [Service(_uuid(spec.service_uuid), chars)]
        if spec.battery is not None:
            svc_uuid, char_uuid = spec.battery
            services.append(Service(_uuid(svc_uuid), [Characteristic(
                _uuid(char_uuid), props.READ, Characteristic.READABLE,
                CharacteristicValue(read=lambda _c: self.spec.battery_value),
            )]))
        self.device.add_services(services)
        # bumble's virtual controller answers scan requests with the advert itself, so everything
        # goes into the advert (it does not enforce the 31-byte legacy limit)
        adv: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, bytes([0x06])),
                                        (AdvertisingData.COMPLETE_LOCAL_NAME, spec.name.encode())]
        uuids = [_uuid(u) for u in spec.advertised_uuids]
        short = b"".join(u.uuid_bytes for u in uuids if len(u.uuid_bytes) == 2)
        long_ = b"".join(u.uuid_bytes for u in uuids if len(u.uuid_bytes) == 16)
        if short:
            adv.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        if long_:
            adv.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, long_))
        self.device.advertising_data = bytes(AdvertisingData(adv))

    async def start(self) -> None:
        """Power the controller on and start advertising."""
        await self.device.power_on()
        self._task = asyncio.get_running_loop().create_task(self._stream(), name=f"emulated {self.address}")
        await self.power_on()

    async def close(self) -> None:
        """Stop streaming, disconnect, power off (idempotent)."""
        if self._task is not None:
            self._powered = False
            for task in [self._task, *self._bg]:
                task.cancel()
            await asyncio.wait([self._task, *self._bg])
            self._task = None
            with contextlib.suppress(Exception):
                await self.power_off()
            with contextlib.suppress(Exception):
                await self.device.power_off()
        if self.controller in self.controller.link.controllers:
            self.controller.link.remove_controller(self.controller)

    # -- fault injection -----------------------------------------------------------------------------
    async def drop(self, reason: int = hci.HCI_CONNECTION_TIMEOUT_ERROR) -> None:
        """Lose the link (as after a supervision timeout); the sensor re-advertises."""
        conn = self._conn
        if conn is not None:
            await conn.disconnect(reason)

    def go_silent(self) -> None:
        """Keep the connection but stop sending data (the packet counter pauses), as a stalled
        link or firmware would; the
        stall lasts until `resume()` or until the connection ends (a reconnect cures it)."""
        self.fw.silent = True

    def resume(self) -> None:
        self.fw.silent = False
        self._wake.set()

    async def power_off(self) -> None:
        """Sensor switched off: link dropped, no more adverts until `power_on()`."""
        self._powered = False
        await self.drop(hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR)
        await self.device.stop_advertising()

    async def power_on(self) -> None:
        """Sensor switched on: advertising again."""
        self._powered = True
        await self._advertise()

    async def _advertise(self) -> None:
        # re-advertising after a disconnection is done here rather than by bumble's auto_restart, so
        # that power_off() has a single owner of the advertising state
        if self._powered and not self.device.is_advertising:
            await self.device.start_advertising(advertising_interval_min=ADV_INTERVAL_MS,
                                                advertising_interval_max=ADV_INTERVAL_MS)

    async def wait_sent(self, n: int) -> None:
        """Wait until `packets_sent` reaches n (event-driven, no polling)."""
        async with self._sent_cond:
            await self._sent_cond.wait_for(lambda: self.packets_sent >= n)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def streaming(self) -> bool:
        return self.fw.streaming

    # -- link events ---------------------------------------------------------------------------------
    def _on_connection(self, conn: Connection) -> None:
        if not self._powered:
            return
        self._conn = conn
        self.connections += 1
        conn.on(Connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(conn, reason))

    def _on_disconnection(self, conn: Connection, reason: int) -> None:
        if self._conn is conn:
            self._conn = None
            self.fw.link_lost()
        if self._powered:  # a real sensor goes back to advertising after losing its central
            task = asyncio.get_running_loop().create_task(self._advertise())
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    def _on_subscription(self, bearer: Any, notify: bool, indicate: bool) -> None:
        self.fw.subscribe(bool(notify or indicate))
        self._wake.set()

    def _on_write(self, conn: Any, value: bytes) -> None:
        reply = self.fw.write(value)
        self._wake.set()
        if reply is not None:
            task = asyncio.get_running_loop().create_task(
                self.device.notify_subscriber(conn, self._data_char, reply))
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    # -- the data pump -------------------------------------------------------------------------------
    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        origin: float | None = None  # host time of device time 0 for the current streaming run
        k0 = 0
        fw = self.fw
        while True:
            conn = self._conn
            if not (fw.active and conn is not None):
                origin = None
                self._wake.clear()
                await self._wake.wait()
                continue
            k = fw.packets_sent
            if self.speed is not None:
                tick = fw.tick_s / self.speed
                if origin is None:
                    origin, k0 = loop.time(), k
                delay = origin + (k - k0 + 1) * tick - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._conn is not conn or not fw.active:
                    continue
            for p in fw.next_payloads():
                await self.device.notify_subscriber(conn, self._data_char, p)
            async with self._sent_cond:
                self._sent_cond.notify_all()
            await asyncio.sleep(0)  # notify never suspends: always let the loop run between packets


# --------------------------------------------------------------------------------------------------
# The radio: link + central + sensors
# --------------------------------------------------------------------------------------------------
class _InFlightAfterDisconnect(logging.Filter):
    """Drops bumble's "no connection for ..." warnings: packets still in flight on the virtual link
    when a connection ends (normal after every drop; a real controller discards them silently)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("!!! no connection for")


_QUIET = _InFlightAfterDisconnect()


class EmulatedRadio:
    """Owns a virtual radio link, the central adapter and emulated sensors (async context manager).

    `scanner_type()` / `client_type()` are bleak backend classes bound to the central: pass them as
    bleak's ``backend=`` (``BleakScanner(backend=radio.scanner_type())``, `BleSource(backend=...,
    scanner_backend=...)`) and code on plain bleak talks to the emulated sensors.
    """

    def __init__(self, *, speed: float | None = None):
        self.link = LocalLink()
        self.central = BumbleCentral(self.link)
        self.speed = speed
        self.sensors: list[EmulatedSensor] = []
        self._closed = False

    async def __aenter__(self) -> EmulatedRadio:
        logging.getLogger("bumble.controller").addFilter(_QUIET)  # idempotent (filters are a set-like list)
        await self.central.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for sensor in self.sensors:
                await sensor.close()
            await self.central.close()
        finally:
            logging.getLogger("bumble.controller").removeFilter(_QUIET)

    async def add_sensor(self, spec: SensorSpec, *, address: str | None = None,
                         speed: float | None | str = "radio") -> EmulatedSensor:
        """Create, power on and start advertising one sensor. Addresses default to
        C0:00:00:00:00:01, :02, … (static random)."""
        if address is None:
            address = f"C0:00:00:00:00:{len(self.sensors) + 1:02X}"
        sensor = EmulatedSensor(self.link, spec, address,
                                speed=self.speed if speed == "radio" else speed,  # type: ignore[arg-type]
                                seed=len(self.sensors))
        self.sensors.append(sensor)
        await sensor.start()
        return sensor

    def scanner_type(self) -> type:
        return self.central.scanner_type()

    def client_type(self) -> type:
        return self.central.client_type()

    def sensor(self, address: str) -> EmulatedSensor:
        for s in self.sensors:
            if s.address == address:
                return s
        raise KeyError(address)


