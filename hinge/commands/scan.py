"""`hinge scan`: list nearby sensors that match a firmware profile."""

from __future__ import annotations

import asyncio
import contextlib

from hinge.commands._shared import add_adapter_argument
from hinge.ui import battery_text

HELP = "list nearby sensors that match a firmware profile (name, address, RSSI, profile, battery)"


def add_arguments(p) -> None:
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default 5)")
    p.add_argument("--profile", action="append", help="only these profiles (default: all)")
    p.add_argument("--emulated", action="store_true", help="scan two emulated sensors on the emulated BLE link")
    add_adapter_argument(p)


async def _scan(args):
    from hinge.sensing.ble import scan  # bleak: only when scanning
    from hinge.sensing.profiles import load as load_profile

    if not args.emulated:
        return await scan(args.timeout, profiles=args.profile, adapter=getattr(args, "adapter", None))
    from hinge.sensing.emulated import EmulatedRadio, SensorSpec

    async with EmulatedRadio() as radio:
        for name in ("hinge-ref", "witmotion-bwt901ble"):
            await radio.add_sensor(SensorSpec.from_profile(load_profile(name)))
        return await scan(args.timeout, backend=radio.scanner_type(), profiles=args.profile, stop_after=2)


def format_found(found) -> str:
    lines = [f"{'name':24s} {'address':20s} {'RSSI':>5s}  {'profile':22s} battery"]
    for f in found:
        battery = battery_text(f.battery) or "—"
        lines.append(f"{f.name[:24]:24s} {f.address:20s} {f.rssi:5d}  {f.profile:22s} {battery}")
    return "\n".join(lines)


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
