"""`hinge scan --emulated`: the real bleak scan path against two emulated sensors."""

from __future__ import annotations

from hinge.cli import main


def test_scan_emulated_lists_both_sensors_with_profiles(capsys):
    assert main(["scan", "--emulated", "--timeout", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [ln.split() for ln in out[1:] if ln.strip() and ":" in ln]
    assert {r[1] for r in rows[:2]} == {"C0:00:00:00:00:01", "C0:00:00:00:00:02"}
    assert {r[3] for r in rows[:2]} == {"hinge-ref", "witmotion-bwt901ble"}


def test_interactive_placement_choice_over_emulated_scan():
    import argparse
    import asyncio

    import pytest

    from hinge.commands._shared import choose_placements
    from hinge.commands.scan import _scan
    from hinge.errors import UserError

    found = asyncio.run(_scan(argparse.Namespace(emulated=True, timeout=10.0, profile=None)))
    answers = iter(["2", "1"])
    shown = []
    chosen = choose_placements(found, ask=lambda _prompt: next(answers), say=shown.append)
    assert chosen["sacrum"].address == found[1].address and chosen["thoracic"].address == found[0].address
    assert found[0].address in shown[0] and found[1].address in shown[0]
    for bad in (["3"], ["x"], ["1", "1"]):
        it = iter(bad)
        with pytest.raises(UserError):
            choose_placements(found, ask=lambda _p, it=it: next(it), say=lambda _t: None)
    with pytest.raises(UserError, match="two are needed"):
        choose_placements(found[:1], ask=lambda _p: "1", say=lambda _t: None)
