"""A wrong or absent sensor address on bleak's real BlueZ backend (BlueZoo): one line after a bounded wait,
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
