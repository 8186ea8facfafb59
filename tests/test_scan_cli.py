"""`hinge scan --emulated`: the real bleak scan path against two emulated sensors."""

from __future__ import annotations

from hinge.cli import main


def test_scan_emulated_lists_both_sensors_with_profiles(capsys):
    assert main(["scan", "--emulated", "--timeout", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [ln.split() for ln in out[1:] if ln.strip() and ":" in ln]
    assert {r[1] for r in rows[:2]} == {"C0:00:00:00:00:01", "C0:00:00:00:00:02"}
    assert {r[3] for r in rows[:2]} == {"hinge-ref", "witmotion-bwt901ble"}
