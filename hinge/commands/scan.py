"""`hinge scan`: list nearby sensors that match a firmware profile."""

from __future__ import annotations

import asyncio
import contextlib

from hinge.errors import UserError
from sensing.ble import scan
from sensing.profiles import load as load_profile

HELP = "list nearby sensors that match a firmware profile (name, address, RSSI, profile, battery)"


def add_arguments(p) -> None:
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default 5)")
    p.add_argument("--profile", action="append", help="only these profiles (default: all)")
    p.add_argument("--emulated", action="store_true", help="scan two emulated sensors on the emulated BLE link")
    add_adapter_argument(p)


def add_adapter_argument(p) -> None:
    """`--adapter hciN` (scan, record, live): passed to bleak as the BlueZ adapter."""
    p.add_argument("--adapter", metavar="hciN",
                   help="Bluetooth adapter to use, e.g. hci1 (Linux/BlueZ; default: the system's default adapter)")


async def _scan(args):
    if not args.emulated:
        return await scan(args.timeout, profiles=args.profile, adapter=getattr(args, "adapter", None))
    from sensing.emulated import EmulatedRadio, SensorSpec

    async with EmulatedRadio() as radio:
        for name in ("hinge-ref", "witmotion-bwt901ble"):
            await radio.add_sensor(SensorSpec.from_profile(load_profile(name)))
        with radio.patched_bleak():
            return await scan(args.timeout, profiles=args.profile, stop_after=2)


def format_found(found) -> str:
    lines = [f"{'name':24s} {'address':20s} {'RSSI':>5s}  {'profile':22s} battery"]
    for f in found:
        battery = f"{f.battery}%" if f.battery is not None else "—"
        lines.append(f"{f.name[:24]:24s} {f.address:20s} {f.rssi:5d}  {f.profile:22s} {battery}")
    return "\n".join(lines)


def choose_placements(found, ask=input, say=print) -> dict:
    """Ask which of the found sensors sits on the sacrum and which on the thoracic spine.

    found: `Found` rows from a scan; ask(prompt) -> answer (a row number); say(text) shows the list.
    Returns {"sacrum": Found, "thoracic": Found}. Raises UserError when fewer than two sensors were found
    or an answer is not a listed number (or picks the same sensor twice).
    """
    if len(found) < 2:
        raise UserError(f"found {len(found)} matching sensor(s); two are needed (are both on and advertising?)")
    say("\n".join(f"  [{i}] {f.name} {f.address} ({f.profile}, RSSI {f.rssi})" for i, f in enumerate(found, 1)))
    chosen: dict = {}
    for placement in ("sacrum", "thoracic"):
        answer = ask(f"which sensor is on the {placement}? [1-{len(found)}] ").strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(found):
            raise UserError(f"{placement}: {answer!r} is not one of the listed numbers 1-{len(found)}")
        pick = found[int(answer) - 1]
        if any(f.address == pick.address for f in chosen.values()):
            raise UserError(f"{placement}: sensor {pick.address} is already the {next(iter(chosen))} sensor")
        chosen[placement] = pick
    return chosen


def run(args) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        found = asyncio.run(_scan(args))
        print(format_found(found) if found else "no matching sensors found (are they on and advertising?)")
        same = [f for f in found if f.profile == found[0].profile] if found else []
        if len(same) >= 2:
            adapter = getattr(args, "adapter", None)
            print(
                f"\nrecord with: hinge record --sacrum {same[0].address} --thoracic {same[1].address}"
                f" --profile {same[0].profile}" + (f" --adapter {adapter}" if adapter else "")
            )
    return 0
