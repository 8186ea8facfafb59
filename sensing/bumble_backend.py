"""A bleak backend that runs over Bumble's in-process virtual radio (no hardware, no OS stack).

bleak takes a backend class as ``backend=`` (`BleakScanner`, `BleakClient`; `hinge.sensing.ble.BleSource`
and `scan` pass theirs on). `BumbleCentral.scanner_type()` / `client_type()` return backend classes
bound to one emulated adapter, so app code written against plain bleak runs unchanged over
`bumble.link.LocalLink`; nothing of bleak's is patched.

Typical use (see `hinge.sensing.emulated.EmulatedRadio`, which owns the link and the peripherals)::

    central = BumbleCentral(link)
    await central.open()
    scanner = bleak.BleakScanner(backend=central.scanner_type())
    client = bleak.BleakClient(device, backend=central.client_type())

Fidelity notes (see research/ble-testing.md §4): the client requests an ATT MTU of 247 right after
connecting, as real stacks do (pass ``bumble={"mtu": 23}`` to `BleakClient` to keep the minimum);
GATT state is rediscovered on every connect and dropped on disconnection; pending GATT requests are
cancelled when the link drops instead of hanging for bumble's 30 s request timeout.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.assigned_numbers import gatt_char_props_to_strs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import core, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy
from bumble.host import Host
from bumble.link import LocalLink

logger = logging.getLogger(__name__)

DEFAULT_MTU = 247
"""ATT MTU requested after connecting (bytes); real stacks negotiate at least this much."""

CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"


def uuid_to_str(u: core.UUID) -> str:
    """bumble UUID -> bleak's normalised form (lower-case, 128-bit, dashed)."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.uuid_128_bytes))))


def address_to_str(address: hci.Address) -> str:
    """bumble Address -> 'AA:BB:CC:DD:EE:FF' (no type qualifier), as bleak shows addresses."""
    return address.to_string(with_type_qualifier=False)


def _advertisement_data(adv: Advertisement) -> AdvertisementData:
    """Translate one bumble advertisement into bleak's `AdvertisementData`."""
    data = adv.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
    uuids: list[str] = []
    for ad_type in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for lst in data.get_all(ad_type):
            uuids.extend(uuid_to_str(u) for u in lst)
    manufacturer: dict[int, bytes] = {}
    for company_id, payload in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA):
        manufacturer[company_id] = bytes(payload)
    service_data: dict[str, bytes] = {}
    for ad_type in (
        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
        AdvertisingData.SERVICE_DATA_32_BIT_UUID,
        AdvertisingData.SERVICE_DATA_128_BIT_UUID,
    ):
        for svc_uuid, payload in data.get_all(ad_type):
            service_data[uuid_to_str(svc_uuid)] = bytes(payload)
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    rssi = adv.rssi if adv.rssi != Advertisement.RSSI_NOT_AVAILABLE else -60
    return AdvertisementData(
        local_name=str(name) if name is not None else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=int(tx_power) if tx_power is not None else None,
        rssi=rssi,
        platform_data=(adv,),
    )


class BumbleCentral:
    """One emulated Bluetooth adapter: a bumble `Device` in the central role on a `LocalLink`.

    Owns its controller; `close()` powers the device off and removes the controller from the link
    (idempotent). All scanners and clients made from `scanner_type()` / `client_type()` share it,
    like bleak's backends share one OS adapter.
    """

    def __init__(self, link: LocalLink, *, address: str = CENTRAL_ADDRESS, name: str = "hinge-central"):
        self.link = link
        self.controller = Controller(name, link=link)
        self.device = Device(name=name, address=hci.Address(address))
        self.device.host = Host()
        self.device.host.controller = self.controller
        self._scanners: set[BumbleScanner] = set()
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._opened = False
        self._closed = False
        self.device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanner_cls: type[BumbleScanner] | None = None
        self._client_cls: type[BumbleClient] | None = None

    async def open(self) -> BumbleCentral:
        if not self._opened:
            await self.device.power_on()
            self._opened = True
        return self

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._opened:
                for conn in list(self.device.connections.values()):
                    try:
                        await conn.disconnect()
                    except Exception:  # noqa: BLE001 - best effort on teardown
                        logger.debug("teardown disconnect failed", exc_info=True)
                if self.device.is_scanning:
                    await self.device.stop_scanning()
                await self.device.power_off()
        finally:
            if self.controller in self.link.controllers:
                self.link.remove_controller(self.controller)

    async def __aenter__(self) -> BumbleCentral:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- bleak backend types bound to this adapter -------------------------------------------------
    def scanner_type(self) -> type[BumbleScanner]:
        """A `BaseBleakScanner` subclass bound to this central (its `__name__` is bleak's backend id)."""
        if self._scanner_cls is None:
            self._scanner_cls = type("BumbleScanner", (BumbleScanner,), {"central": self})
        return self._scanner_cls

    def client_type(self) -> type[BumbleClient]:
        """A `BaseBleakClient` subclass bound to this central."""
        if self._client_cls is None:
            self._client_cls = type("BumbleClient", (BumbleClient,), {"central": self})
        return self._client_cls

    # -- scanning, shared by all active scanners ---------------------------------------------------
    async def _add_scanner(self, scanner: BumbleScanner) -> None:
        async with self._scan_lock:
            self._scanners.add(scanner)
            if not self.device.is_scanning:
                await self.device.start_scanning(filter_duplicates=False)

    async def _remove_scanner(self, scanner: BumbleScanner) -> None:
        async with self._scan_lock:
            self._scanners.discard(scanner)
            if not self._scanners and self.device.is_scanning and not self._closed:
                await self.device.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        for scanner in list(self._scanners):
            scanner._handle(adv)


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend over a `BumbleCentral` (use `BumbleCentral.scanner_type()`)."""

    central: BumbleCentral

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning_mode = scanning_mode

    async def start(self) -> None:
        self.seen_devices = {}
        await self.central._add_scanner(self)

    async def stop(self) -> None:
        await self.central._remove_scanner(self)

    def _handle(self, adv: Advertisement) -> None:
        data = _advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_to_str(adv.address)
        device = self.create_or_update_device(address, address, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend over a `BumbleCentral` (use `BumbleCentral.client_type()`).

    Extra `BleakClient` keyword: ``bumble={"mtu": int}`` — the ATT MTU requested after connecting
    (default `DEFAULT_MTU`; 23 skips the exchange).
    """

    central: BumbleCentral

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        bumble: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, hci.Address
        ):
            self._peer_address = address_or_ble_device.details
        else:
            self._peer_address = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        self._device_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._wanted_mtu = int((bumble or {}).get("mtu", DEFAULT_MTU))
        self._conn: Connection | None = None
        self._peer: Peer | None = None
        self._requested_disconnect = False
        self._notify: dict[int, Callable[[bytes], None]] = {}

    # -- info ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        if self._conn is None:
            return 23
        return self._conn.att_mtu

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    # -- connectivity --------------------------------------------------------------------------------
    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._conn is not None:
            return
        timeout = kwargs.get("timeout", self._timeout)
        device = self.central.device
        # bumble allows one pending LE connection per device: serialise like an OS adapter would.
        async with self.central._connect_lock:
            try:
                conn = await device.connect(self._peer_address, timeout=timeout)
            except core.TimeoutError as exc:
                raise BleakDeviceNotFoundError(
                    self.address, f"Device with address {self.address} was not found"
                ) from exc
            except (core.BaseBumbleError, hci.HCI_Error) as exc:
                raise BleakError(f"{self.address}: connect failed: {exc}") from exc
        self._conn = conn
        self._requested_disconnect = False
        conn.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(conn)
            self._peer = peer
            if self._wanted_mtu > 23:
                await self._guard(peer.request_mtu(self._wanted_mtu))
            self.services = await self._guard(self._discover(peer))
        except BaseException:
            if self._conn is not None:
                await self.disconnect()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        services = await peer.discover_services()
        for svc in services:
            await peer.discover_characteristics(service=svc)
        for svc in services:
            b_svc = BleakGATTService(svc, svc.handle, uuid_to_str(svc.uuid))
            collection.add_service(b_svc)
            for ch in svc.characteristics:
                await peer.discover_descriptors(characteristic=ch)
                b_ch = BleakGATTCharacteristic(
                    ch,
                    ch.handle,
                    uuid_to_str(ch.uuid),
                    list(gatt_char_props_to_strs(int(ch.properties))),
                    lambda: self.mtu_size - 3,
                    b_svc,
                )
                collection.add_characteristic(b_ch)
                for desc in ch.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, uuid_to_str(desc.type), b_ch)
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        requested = self._requested_disconnect
        self._conn = None
        self._peer = None
        self.services = None
        self._notify.clear()
        logger.debug("%s: disconnected (reason %s, requested=%s)", self.address, reason, requested)
        if not requested and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._requested_disconnect = True
        try:
            await conn.disconnect()
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            logger.debug("%s: disconnect: %s", self.address, exc)
        if self._conn is conn:  # the disconnection event did not arrive: clean up anyway
            self._on_disconnection(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not emulated")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not emulated")

    # -- I/O -----------------------------------------------------------------------------------------
    def _require(self) -> tuple[Connection, Peer]:
        if self._conn is None or self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._conn, self._peer

    async def _guard(self, awaitable: Any) -> Any:
        """Await a GATT operation, failing fast (BleakError) if the link drops meanwhile."""
        conn, _ = self._require()
        try:
            return await conn.cancel_on_disconnection(awaitable)
        except asyncio.CancelledError:
            if self._conn is None and asyncio.current_task().cancelling() == 0:  # type: ignore[union-attr]
                raise BleakError(f"{self.address}: disconnected during GATT operation") from None
            raise
        except core.ProtocolError as exc:
            raise BleakError(f"{self.address}: GATT error: {exc}") from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        _, peer = self._require()
        proxy: CharacteristicProxy = characteristic.obj
        return bytearray(await self._guard(peer.read_value(proxy)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        _, peer = self._require()
        proxy: DescriptorProxy = descriptor.obj
        return bytearray(await self._guard(peer.read_value(proxy)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        _, peer = self._require()
        await self._guard(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        _, peer = self._require()
        await self._guard(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        _, peer = self._require()

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._notify[characteristic.handle] = on_value
        await self._guard(peer.subscribe(characteristic.obj, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        _, peer = self._require()
        on_value = self._notify.pop(characteristic.handle, None)
        await self._guard(peer.unsubscribe(characteristic.obj, on_value))
