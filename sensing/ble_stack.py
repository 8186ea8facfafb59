"""A Bluetooth stack that cannot be used, as one line saying what is missing and what to do.

bleak reports the same problem differently per backend and version: `BleakBluetoothNotAvailableError`
with a reason (bleak >= 2), a `BleakDBusError` named by D-Bus, or the `OSError` of a system D-Bus socket
that is not there (BlueZ's backend on a machine without D-Bus or BlueZ). `stack_problem` maps them all;
`hinge.sensing.ble` raises `BluetoothUnavailable` with its text.
"""

from __future__ import annotations

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError

from hinge.sensing.errors import InputError, describe_error


class BluetoothUnavailable(InputError):
    """The Bluetooth stack itself is missing or refuses: no adapter, adapter off, no permission, BlueZ
    or D-Bus not running. The message says which, and what to do, in one line."""


_NO_BLUEZ = ("BlueZ is not running: install it and start bluetoothd "
             "(Debian/Ubuntu: `sudo apt install bluez && sudo systemctl start bluetooth`)")
_NO_PERMISSION = ("no permission to use Bluetooth (Linux: BlueZ's D-Bus policy must allow this user, e.g. "
                  "membership of the `bluetooth` group; macOS: allow the terminal under Privacy & Security › "
                  "Bluetooth)")
_POWERED_OFF = "Bluetooth is off: turn it on (`bluetoothctl power on`, or the system's Bluetooth settings)"
_NO_ADAPTER = "no Bluetooth adapter found: plug one in or enable it (`bluetoothctl list` shows the adapters)"
_REASON_TEXT = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: _NO_ADAPTER,
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE:
        "the Bluetooth adapter cannot act as a Bluetooth Low Energy central: use a BLE (4.0+) adapter",
    BleakBluetoothNotAvailableReason.POWERED_OFF: _POWERED_OFF,
    BleakBluetoothNotAvailableReason.DENIED_BY_USER: _NO_PERMISSION,
    BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM: _NO_PERMISSION,
    BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN: _NO_PERMISSION,
}
_DBUS_ERROR_TEXT = {
    "org.freedesktop.DBus.Error.ServiceUnknown": _NO_BLUEZ,
    "org.freedesktop.DBus.Error.NameHasNoOwner": _NO_BLUEZ,
    "org.freedesktop.DBus.Error.AccessDenied": _NO_PERMISSION,
    "org.bluez.Error.NotReady": _POWERED_OFF,
    "org.bluez.Error.NotPermitted": _NO_PERMISSION,
}


def stack_problem(exc: BaseException, adapter: str | None = None) -> str | None:
    """What is wrong with the Bluetooth stack, as one line saying what to do; None when `exc` is not a
    failure of the stack itself (a sensor that does not answer, a GATT error).

    bleak reports the same problem differently per backend and version: `BleakBluetoothNotAvailableError`
    with a reason (bleak >= 2), a `BleakDBusError` named by D-Bus, or the `OSError` of a system D-Bus
    socket that is not there (BlueZ's backend, no D-Bus / no BlueZ installed)."""
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return _REASON_TEXT.get(exc.reason, f"Bluetooth is not available ({describe_error(exc)})")
    if isinstance(exc, BleakDBusError):
        text = _DBUS_ERROR_TEXT.get(exc.dbus_error)
        if text is not None:
            return text
    if isinstance(exc, PermissionError):
        return _NO_PERMISSION
    if isinstance(exc, OSError):  # bleak's BlueZ backend could not open the system D-Bus socket
        return f"cannot reach the system D-Bus ({describe_error(exc)}): {_NO_BLUEZ}"
    text = describe_error(exc)
    if adapter is not None and "not found" in text and adapter in text:
        return f"Bluetooth adapter {adapter!r} not found (`ls /sys/class/bluetooth` lists the adapters)"
    if "No powered Bluetooth adapters" in text:  # bleak < 2 said this as a plain BleakError
        return _POWERED_OFF
    if "No Bluetooth adapters found" in text:
        return _NO_ADAPTER
    return None
