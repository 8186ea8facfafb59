"""An emulated IMU on BlueZ's D-Bus API: an LE advertisement and a GATT application, one process.

    python -m hinge.sensing.bluez_peripheral --profile hinge-ref --adapter hci2 [--name hinge-01] [--rate 100]

The sensor's GATT layout, command set and packet bytes are the firmware profile's, built by
`hinge.sensing.emulated.SensorSpec.from_profile` and run by `hinge.sensing.emulated.Firmware` (the same code
as the Bumble peripherals): a primary service with the notify characteristic and the command
characteristic(s), a battery service where the profile reads one, commands that set the rate and
start / stop the stream, `profile.encode` packets of a known motion paced in real time.

It speaks `org.bluez` over `dbus-fast` on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`):
`LEAdvertisingManager1.RegisterAdvertisement` (name, service UUIDs, service data: battery level
and a tick that changes every `--tick` s, so a scanner that only reports changed adverts keeps
seeing the sensor; no manufacturer data) and `GattManager1.RegisterApplication`. Notifications
are `PropertiesChanged` of the characteristic's `Value`; `AcquireWrite` / `AcquireNotify` hand
out a socket and the ATT MTU (`--mtu`), which is how bleak's BlueZ backend learns the MTU.
BlueZoo calls `Confirm()` after relaying each value; `--window N` keeps at most N notifications
awaiting it (flow control: dbus-fast drops its connection when a flooded socket would block).

Link loss: when the central's device on our adapter reports `Connected` false the stream stops
and the GATT application is registered again, as a firmware that restarts its GATT server after a
disconnection. (On BlueZoo, BlueZ's D-Bus mock used by the tests, this is what lets the same
central connect again: it keeps a disconnected device's service objects, and a fresh registration
gets fresh handles, hence fresh object paths.)

`--bluezoo-adapter ID ADDRESS` first creates the adapter through BlueZoo's `org.bluezoo.Manager1`
(test machines only) and removes it on exit. On SIGTERM / SIGINT it unregisters and prints one
JSON line of counters (packets sent, commands received, subscriptions) to stdout; "ready" is
printed once advertising.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from typing import Annotated, Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusBytes, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from hinge.sensing.emulated import Firmware, SensorSpec
from hinge.sensing.errors import InputError
from hinge.sensing.profiles import load as load_profile

logger = logging.getLogger(__name__)

BLUEZ = "org.bluez"
ROOT = "/org/hinge/sensor"
DEFAULT_MTU = 247
"""ATT MTU the emulated sensor reports (an nRF52 with data length extension negotiates 247)."""
BATTERY_PERCENT = 87

# D-Bus signatures of the org.bluez peripheral API (dbus-fast reads them from the annotations)
Options = Annotated[dict[str, Any], DBusSignature("a{sv}")]
StrList = Annotated[list[str], DBusSignature("as")]
FdMtu = Annotated[list[int], DBusSignature("hq")]


def full_uuid(uuid: str) -> str:
    """16/32-bit UUIDs in BlueZ's 128-bit form (lower case)."""
    u = uuid.lower().removeprefix("0x")
    return f"{int(u, 16):08x}-0000-1000-8000-00805f9b34fb" if len(u) <= 8 else u


# --------------------------------------------------------------------------------------------------
# D-Bus objects (org.bluez peripheral API)
# --------------------------------------------------------------------------------------------------
class Advertisement(ServiceInterface):
    def __init__(self, name: str, uuids: list[str], service_data: dict[str, bytes]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self._name = name
        self._uuids = uuids
        self._service_data = dict(service_data)

    def set_service_data(self, uuid: str, data: bytes) -> None:
        self._service_data[uuid] = data
        self.emit_properties_changed({"ServiceData": self._sd()})

    def _sd(self) -> dict[str, Variant]:
        return {k: Variant("ay", v) for k, v in self._service_data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:  # noqa: N802 - D-Bus names
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:  # noqa: N802
        return self._name

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> StrList:  # noqa: N802
        return self._uuids

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> Options:  # noqa: N802
        return self._sd()

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:  # noqa: N802
        return True

    @method()
    def Release(self):  # noqa: N802
        logger.info("advertisement released")


class GattService(ServiceInterface):
    def __init__(self, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:  # noqa: N802
        return True


class GattCharacteristic(ServiceInterface):
    """One characteristic. `peripheral` gets the reads, writes and (un)subscriptions."""

    def __init__(self, peripheral: Peripheral, uuid: str, service_path: str, flags: list[str]) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._p = peripheral
        self._uuid = uuid
        self._service = service_path
        self._flags = flags
        self.value = b""

    def notify(self, value: bytes) -> None:
        self.value = value
        self.emit_properties_changed({"Value": value})

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:  # noqa: N802
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> StrList:  # noqa: N802
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:  # noqa: N802
        return self.value

    @method()
    def ReadValue(self, options: Options) -> DBusBytes:  # noqa: N802
        return self._p.read(self._uuid)

    @method()
    def WriteValue(self, value: DBusBytes, options: Options):  # noqa: N802
        self._p.write(bytes(value))

    @method()
    def StartNotify(self):  # noqa: N802
        self._p.subscribe(True)

    @method()
    def StopNotify(self):  # noqa: N802
        self._p.subscribe(False)

    @method()
    def Confirm(self):  # noqa: N802 - BlueZoo confirms every value it relays
        self._p.confirmed()

    @method()
    def AcquireWrite(self, options: Options) -> FdMtu:  # noqa: N802
        return [self._p.socket_fd(), self._p.mtu]

    @method()
    def AcquireNotify(self, options: Options) -> FdMtu:  # noqa: N802
        return [self._p.socket_fd(), self._p.mtu]


# --------------------------------------------------------------------------------------------------
# The peripheral
# --------------------------------------------------------------------------------------------------
class Peripheral:
    """One emulated sensor on one BlueZ adapter (`run()` until `stop()`)."""

    def __init__(self, spec: SensorSpec, adapter: str, *, mtu: int = DEFAULT_MTU, tick_s: float = 1.0,
                 speed: float = 1.0, window: int = 0) -> None:
        self.spec = spec
        self.speed = speed
        self.window = window
        self._unconfirmed = 0
        self._confirm = asyncio.Event()
        self.adapter_path = f"/org/bluez/{adapter}"
        self.mtu = mtu
        self.tick_s = tick_s
        self.fw = Firmware(spec)
        self.subscriptions = 0
        self.registrations = 0
        self.links_lost = 0
        self._bus: MessageBus | None = None
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._sockets: list[socket.socket] = []
        self._chars: dict[str, GattCharacteristic] = {}
        self._data: GattCharacteristic | None = None
        self._paths: list[str] = []
        self._advert: Advertisement | None = None
        self._registered = False
        self._reregister: asyncio.Task[None] | None = None

    # -- GATT callbacks ------------------------------------------------------------------------------
    def read(self, uuid: str) -> bytes:
        if self.spec.battery is not None and uuid == full_uuid(self.spec.battery[1]):
            return self.spec.battery_value
        return b""

    def write(self, value: bytes) -> None:
        reply = self.fw.write(value)
        if reply is not None and self._data is not None:
            self._notify(reply)
        self._wake.set()

    def _notify(self, value: bytes) -> None:
        assert self._data is not None
        self._data.notify(value)
        self._unconfirmed += 1

    def confirmed(self) -> None:
        self._unconfirmed = max(0, self._unconfirmed - 1)
        self._confirm.set()

    async def _window_open(self) -> None:
        """With a window, wait until fewer than `window` notifications await their Confirm (the
        flow control a BLE controller's buffers give; without it a fast stream floods the bus)."""
        while self.window and self._unconfirmed >= self.window and self.fw.active:
            self._confirm.clear()
            await self._confirm.wait()

    def subscribe(self, on: bool) -> None:
        self.subscriptions += on
        self.fw.subscribe(on)
        self._unconfirmed = 0
        self._confirm.set()
        self._wake.set()

    def socket_fd(self) -> int:
        """One end of a fresh socket pair (what BlueZ hands out for AcquireWrite / AcquireNotify)."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sockets += [a, b]
        return a.fileno()

    # -- D-Bus ---------------------------------------------------------------------------------------
    async def _call(self, path: str, interface: str, member: str, signature: str = "", body: list | None = None,
                    destination: str = BLUEZ) -> list[Any]:
        assert self._bus is not None
        reply = await self._bus.call(Message(destination=destination, path=path, interface=interface,
                                             member=member, signature=signature, body=body or []))
        if reply.message_type == MessageType.ERROR:
            raise InputError(f"{interface}.{member} on {path}: {reply.error_name} {' '.join(map(str, reply.body))}")
        return reply.body

    def _export_gatt(self) -> None:
        assert self._bus is not None
        spec = self.spec
        notify_uuid = full_uuid(spec.notify_uuid)
        write_uuids = [full_uuid(u) for u in spec.write_uuids]
        services: list[tuple[str, list[tuple[str, list[str]]]]] = []
        data_flags = ["notify"] + (["write", "write-without-response"] if notify_uuid in write_uuids else [])
        chars = [(notify_uuid, data_flags)]
        chars += [(u, ["write", "write-without-response"]) for u in dict.fromkeys(write_uuids) if u != notify_uuid]
        services.append((full_uuid(spec.service_uuid), chars))
        if spec.battery is not None:
            services.append((full_uuid(spec.battery[0]), [(full_uuid(spec.battery[1]), ["read"])]))
        for i, (svc_uuid, svc_chars) in enumerate(services):
            svc_path = f"{ROOT}/app/service{i}"
            self._bus.export(svc_path, GattService(svc_uuid))
            self._paths.append(svc_path)
            for j, (uuid, flags) in enumerate(svc_chars):
                path = f"{svc_path}/char{j}"
                char = GattCharacteristic(self, uuid, svc_path, flags)
                self._bus.export(path, char)
                self._paths.append(path)
                self._chars[uuid] = char
        self._data = self._chars[notify_uuid]

    async def _register_gatt(self) -> None:
        await self._call(self.adapter_path, "org.bluez.GattManager1", "RegisterApplication", "oa{sv}",
                         [f"{ROOT}/app", {}])
        self._registered = True
        self.registrations += 1

    async def _unregister_gatt(self) -> None:
        if self._registered:
            self._registered = False
            await self._call(self.adapter_path, "org.bluez.GattManager1", "UnregisterApplication", "o",
                             [f"{ROOT}/app"])

    async def _fresh_gatt(self) -> None:
        with contextlib.suppress(InputError):
            await self._unregister_gatt()
        await self._register_gatt()

    def _on_signal(self, msg: Message) -> None:
        if (msg.message_type != MessageType.SIGNAL or msg.member != "PropertiesChanged"
                or not (msg.path or "").startswith(self.adapter_path + "/dev_")):
            return
        interface, changed = msg.body[0], msg.body[1]
        if interface != "org.bluez.Device1" or "Connected" not in changed or changed["Connected"].value:
            return
        self.links_lost += 1
        self.fw.link_lost()
        self._unconfirmed = 0
        self._confirm.set()
        self._wake.set()
        if self._reregister is None or self._reregister.done():
            self._reregister = asyncio.get_running_loop().create_task(self._fresh_gatt())

    # -- lifecycle -----------------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        bus = self._bus = await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
        try:
            bus.add_message_handler(self._on_signal)
            await self._call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                             [f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.Properties',"
                              f"member='PropertiesChanged',path_namespace='{self.adapter_path}'"],
                             destination="org.freedesktop.DBus")
            self._export_gatt()
            await self._register_gatt()
            spec = self.spec
            own_uuid = full_uuid(spec.advertised_uuids[0] if spec.advertised_uuids else spec.service_uuid)
            self._advert = Advertisement(self.spec.name, [full_uuid(u) for u in self.spec.advertised_uuids],
                                         {full_uuid("180f"): bytes([BATTERY_PERCENT]), own_uuid: b"\x00"})
            bus.export(f"{ROOT}/advert", self._advert)
            await self._call(self.adapter_path, "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement",
                             "oa{sv}", [f"{ROOT}/advert", {}])
            if ready is not None:
                ready.set()
            tasks = [asyncio.ensure_future(self._stream()), asyncio.ensure_future(self._tick(own_uuid))]
            try:
                await self._stopped.wait()
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(InputError):
                await self._call(self.adapter_path, "org.bluez.LEAdvertisingManager1", "UnregisterAdvertisement",
                                 "o", [f"{ROOT}/advert"])
            with contextlib.suppress(InputError):
                await self._unregister_gatt()
        finally:
            for s in self._sockets:
                s.close()
            bus.disconnect()

    def stop(self) -> None:
        self._stopped.set()

    def counters(self) -> dict[str, Any]:
        fw = self.fw
        return dict(packets_sent=fw.packets_sent, rate_hz=fw.rate_hz, commands=[c.hex() for c in fw.commands],
                    subscriptions=self.subscriptions, registrations=self.registrations, links_lost=self.links_lost)

    async def _tick(self, uuid: str) -> None:
        """Change the advert every tick_s (a scanner that reports only new or changed adverts sees us)."""
        n = 0
        while True:
            await asyncio.sleep(self.tick_s)
            n = (n + 1) % 256
            assert self._advert is not None
            self._advert.set_service_data(uuid, bytes([n]))

    async def _stream(self) -> None:
        """Paced from the first packet of each streaming run (absolute deadlines): device time runs
        `speed` times real time."""
        loop = asyncio.get_running_loop()
        fw = self.fw
        while True:
            if not fw.active:
                self._wake.clear()
                await self._wake.wait()
                continue
            origin, k0 = loop.time(), fw.packets_sent
            while fw.active:
                delay = origin + (fw.packets_sent - k0 + 1) * fw.tick_s / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._window_open()
                if not fw.active:
                    break
                for p in fw.next_payloads():
                    self._notify(p)


async def bluezoo_adapter(adapter_id: int, address: str, *, remove: bool = False) -> None:
    """Create (or remove) an adapter in BlueZoo through its `org.bluezoo.Manager1` controller."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        member, sig, body = (("RemoveAdapter", "y", [adapter_id]) if remove
                             else ("AddAdapter", "ys", [adapter_id, address]))
        reply = await bus.call(Message(destination=BLUEZ, path="/org/bluezoo", interface="org.bluezoo.Manager1",
                                       member=member, signature=sig, body=body))
        if reply.message_type == MessageType.ERROR and not remove:
            raise InputError(f"BlueZoo {member} hci{adapter_id} {address}: {reply.error_name} {reply.body}")
    finally:
        bus.disconnect()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    profile = load_profile(args.profile)
    spec = SensorSpec.from_profile(profile, name=args.name, rate_hz=args.rate)
    adapter = args.adapter
    created: int | None = None
    if args.bluezoo_adapter:
        created = int(args.bluezoo_adapter[0])
        await bluezoo_adapter(created, args.bluezoo_adapter[1])
        adapter = f"hci{created}"
    peripheral = Peripheral(spec, adapter, mtu=args.mtu, tick_s=args.tick, speed=args.speed, window=args.window)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, peripheral.stop)
    ready = asyncio.Event()

    async def say_ready() -> None:
        await ready.wait()
        print("ready", flush=True)

    announcer = asyncio.ensure_future(say_ready())
    try:
        await peripheral.run(ready=ready)
    finally:
        announcer.cancel()
        if created is not None:
            await bluezoo_adapter(created, "", remove=True)
    return peripheral.counters()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="an emulated IMU on BlueZ's D-Bus API (LE advert + GATT application)")
    ap.add_argument("--profile", default="hinge-ref", help="firmware profile (default hinge-ref)")
    ap.add_argument("--adapter", default="hci0", help="BlueZ adapter to advertise on (default hci0)")
    ap.add_argument("--name", help="advertised name (default: from the profile's name pattern)")
    ap.add_argument("--rate", type=float, help="rate before the central sets one (default: the lowest supported)")
    ap.add_argument("--mtu", type=int, default=DEFAULT_MTU, help=f"ATT MTU reported (default {DEFAULT_MTU})")
    ap.add_argument("--speed", type=float, default=1.0, help="device time per real second (default 1: real time)")
    ap.add_argument("--window", type=int, default=0,
                    help="at most this many notifications awaiting Confirm() (BlueZoo confirms each; 0: no limit)")
    ap.add_argument("--tick", type=float, default=1.0, help="seconds between advert changes (default 1)")
    ap.add_argument("--bluezoo-adapter", nargs=2, metavar=("ID", "ADDRESS"),
                    help="create adapter hciID with this address in BlueZoo first (and remove it on exit)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    if not args.speed > 0:
        print(f"error: --speed {args.speed:g}: expected a positive factor", file=sys.stderr)
        return 2
    try:
        counters = asyncio.run(_main(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
