"""Bluetooth switched off, and a wrong or absent sensor address, on bleak's real BlueZ backend (BlueZoo): one line
(the absent sensor after a bounded wait),
nothing left on disk. The wait is the injected `FIND_TIMEOUT_S` (4 s here: BlueZoo reports adverts every
second; 10 s for users)."""

from __future__ import annotations

import pytest

from hinge.cli import main
from hinge.sensing import ble
from hinge.sensing.bluez_sandbox import CENTRAL

pytestmark = [pytest.mark.bluez, pytest.mark.xdist_group("bluez")]


@pytest.mark.parametrize("command", ["live", "record"])
def test_absent_address_is_one_line_after_the_wait_and_no_file(bluez, tmp_path, capsys, monkeypatch, command):
    sensor = bluez.add_sensor("hinge-ref", "hinge-sacrum")
    monkeypatch.setattr(ble, "FIND_TIMEOUT_S", 4.0)
    out = tmp_path / "set.jsonl"
    extra = ["--terminal"] if command == "live" else []
    rc = main([command, "--adapter", CENTRAL, "--sacrum", sensor.address, "--thoracic", "C0:DE:00:00:00:F1",
               "--out", str(out), "--duration", "30", *extra])
    assert rc == 2
    captured = capsys.readouterr()
    assert "error" not in captured.out  # the status lines do not repeat it
    err = [ln for ln in captured.err.splitlines() if "error" in ln]
    assert err == [f"hinge {command}: error: thoracic sensor C0:DE:00:00:00:F1: not found within 4 s: "
                   "is it on and advertising?"]
    assert list(tmp_path.iterdir()) == []  # the sacrum connected, but no set was recorded: no file


async def _set_powered(adapter: str, powered: bool) -> None:
    from dbus_fast import BusType, Message, MessageType, Variant
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(Message(destination="org.bluez", path=f"/org/bluez/{adapter}",
                                       interface="org.freedesktop.DBus.Properties", member="Set", signature="ssv",
                                       body=["org.bluez.Adapter1", "Powered", Variant("b", powered)]))
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    finally:
        bus.disconnect()


def test_bluetooth_switched_off_is_one_line_saying_to_turn_it_on(bluez, tmp_path, capsys, monkeypatch):
    """Both of the sandbox's own adapters off (sensors have theirs): bleak's BlueZ backend finds no powered
    default adapter, as on a laptop with Bluetooth switched off."""
    import asyncio

    own = ("hci0", "hci1")
    for adapter in own:
        asyncio.run(_set_powered(adapter, False))
    try:
        monkeypatch.chdir(tmp_path)
        for args in (["scan", "--timeout", "1"],
                     ["live", "--terminal", "--sacrum", "C0:DE:00:00:00:F0", "--thoracic", "C0:DE:00:00:00:F1"],
                     ["record", "--sacrum", "C0:DE:00:00:00:F0", "--thoracic", "C0:DE:00:00:00:F1"]):
            assert main(args) == 2
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and err.startswith(f"hinge {args[0]}: error: Bluetooth is off: turn it on")
        assert list(tmp_path.iterdir()) == []
    finally:
        for adapter in own:
            asyncio.run(_set_powered(adapter, True))
