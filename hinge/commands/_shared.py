"""What the commands share: the exercises, the view options and `present` (window when a display is
available, else the terminal view), `--fault` and `--limit` parsing, the recording path, the BLE / emulated
source of `live` and `record`. Commands import this module, never each other; it imports the heavy parts
(Qt, bleak, bumble) only inside the functions that need them, so building the CLI parser stays light.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
from pathlib import Path

from hinge.analysis.core import SAMPLE_KINDS
from hinge.analysis.faults import FAULTS, FaultLimits
from hinge.analysis.pipeline import Settings
from hinge.errors import UserError
from hinge.sensing.recording import EXERCISES as RECORDING_EXERCISES
from hinge.sensing.types import SENSORS

FAULT_KINDS = tuple(FAULTS)  # what the simulator can inject: the analyzer's kinds (tests/test_simulator.py)

log = logging.getLogger(__name__)

EXERCISES = RECORDING_EXERCISES
"""Every exercise a command accepts: the recording header's list ("unknown": no exercise-specific
judgement)."""
DEFAULT_DIR = Path("recordings")


def add_fault_argument(p, prefix: str = "") -> None:
    """--fault KIND=DEG (repeatable) for the commands that simulate a set; parsed by `parse_faults`."""
    p.add_argument(
        "--fault", action="append", default=[], metavar="KIND=DEG",
        help=f"{prefix}inject a fault of DEG degrees in every rep (kinds: {', '.join(FAULT_KINDS)}); "
             "default: random faults",
    )


def parse_faults(items: list[str]) -> dict[str, float] | None:
    """--fault KIND=DEG options as a fault dict (None: none given, the simulator picks random faults)."""
    if not items:
        return None
    faults = {}
    for item in items:
        kind, _, deg = item.partition("=")
        try:
            faults[kind] = float(deg)
        except ValueError:
            raise UserError(f"--fault {item!r}: expected KIND=DEG, e.g. trunk_behind_vertical=12") from None
        if kind not in FAULT_KINDS:
            raise UserError(f"--fault {item!r}: unknown kind; expected one of {', '.join(FAULT_KINDS)}")
    return faults


def add_limit_argument(p) -> None:
    """--limit KIND=CAUTION,FAULT (repeatable): fault limits in degrees, for every command that judges reps."""
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="KIND=CAUTION,FAULT",
        help="fault limits as magnitudes in degrees on the fault's own side, e.g. lumbar_rounding=12,20 or "
        f"trunk_behind_vertical=8,12 (8° behind vertical) (kinds: {', '.join(FAULTS)})",
    )


def parse_limits(items: list[str], base: FaultLimits | None = None) -> FaultLimits:
    """--limit options over `base` (default: the built-in limits), kind by kind."""
    limits = base if base is not None else FaultLimits()
    for item in items:
        kind, _, values = item.partition("=")
        try:
            caution, fault = (float(v) for v in values.split(","))
        except ValueError:
            raise UserError(
                f"--limit {item!r}: expected KIND=CAUTION,FAULT in degrees, e.g. lumbar_rounding=12,20 or "
                "trunk_behind_vertical=8,12 (8° behind vertical)"
            ) from None
        try:
            limits = limits.with_magnitudes(kind, caution, fault)
        except ValueError as exc:
            raise UserError(f"--limit {item!r}: {exc}") from None
    return limits


def settings_from_args(args, *, base: FaultLimits | None = None) -> Settings:
    """Analysis settings from --limit (and --online where the command has it). The limits --limit does not
    set come from `base`, by default the settings file's for --athlete (hinge/userconfig.py)."""
    if base is None:
        from hinge.userconfig import load

        base = load().limits(getattr(args, "athlete", "") or "")
    return Settings(
        limits=parse_limits(getattr(args, "limit", []), base),
        offline=not getattr(args, "online", False),
        samples=getattr(args, "samples", None) or "instant",
    )


def add_samples_argument(p) -> None:
    """--samples instant|averaged: how the sensor forms a sample (sets the fusion's time alignment)."""
    p.add_argument(
        "--samples",
        choices=SAMPLE_KINDS,
        default="instant",
        help="instant: a sample is the value at its time stamp (default); averaged: the mean over the period "
        "before it (sensors that average while decimating)",
    )


def add_set_arguments(p) -> None:
    """--athlete / --date: what the file may not say about the set."""
    p.add_argument("--athlete", default="", help="athlete's name or id, stored with the set")
    p.add_argument("--date", help="when the set was done, ISO 8601 UTC (default: the recording's start time)")


def check_duration(args) -> None:
    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration {args.duration:g}: expected a positive number of seconds")


def add_swap_argument(p) -> None:
    """--swap, on every command that reads sensors: the sensors sat on each other's places."""
    p.add_argument(
        "--swap", action="store_true",
        help="the sensors sat on each other's places: take the sacrum's stream for the thoracic one and the "
        "other way round (when hinge says 'sensors swapped?')",
    )


PLACEMENT_BEND_STAND_S = 5.0
"""A simulated live start (`demo`, `--emulated`): rep 1 is the placement bend, then this long standing."""


def add_check_argument(p) -> None:
    """--no-check (live, demo): skip the start-up check (hinge.placement)."""
    p.add_argument(
        "--no-check", action="store_true",
        help="skip the start-up check (both sensors streaming, 'bend forward once' to check which sensor sits "
        "where, then a stand-still countdown)",
    )


def add_view_arguments(p) -> None:
    """Options every live view takes (live, demo, replay)."""
    add_swap_argument(p)
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--screenshot", metavar="PNG", help="save the window as PNG when it stops (works without a display)")
    p.add_argument("--terminal", action="store_true", help="terminal view even when a display is available")
    add_limit_argument(p)


def present(session, args, *, title: str) -> int:
    """Show a session until it ends, `--duration` passes or the window is closed.

    Window when a display is available (or `--screenshot` is asked for: then Qt's offscreen platform
    draws it without a display, and the terminal view prints alongside); else the terminal view.
    """
    from hinge.ui import has_display, missing_qt_libs

    want_window = not args.terminal and (has_display() or args.screenshot)
    interrupted = False
    offscreen = False
    if want_window and not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        offscreen = True
    offscreen = offscreen or os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen")
    if want_window and (missing := missing_qt_libs()):  # Qt would abort the process: say what to install
        print(f"hinge: no window: Qt needs system libraries that are missing; install them "
              f"(Debian/Ubuntu: sudo apt install {' '.join(missing)}; README: per platform); "
              "showing the terminal view", file=sys.stderr)
        want_window = False
    if want_window:
        try:
            from hinge.window import run_window
        except ImportError as exc:  # Qt libraries missing on this machine: the terminal still works
            log.warning("no window (%s); using the terminal view", exc)
            want_window = False
    try:
        if want_window:
            run_window(
                session,
                title=title,
                duration_s=args.duration,
                screenshot=args.screenshot,
                close_when_done=offscreen,
                echo=offscreen,
            )
        else:
            if args.screenshot:
                log.warning("--screenshot needs the window; none saved")
            import asyncio  # here: `hinge analyze` imports this module and needs no event loop

            from hinge.terminal import run_headless

            try:
                asyncio.run(run_headless(session, duration_s=args.duration))
            except KeyboardInterrupt:  # Ctrl-C is how a terminal session is stopped: a normal end
                interrupted = True
    finally:
        session.close()
    if session.error is not None:
        raise session.error
    print(session_summary(session, interrupted=interrupted), flush=True)
    return 0


def session_summary(session, *, interrupted: bool = False) -> str:
    """The closing line of a live view: how it ended, the reps and their faults, the recording kept."""
    from hinge.sets import fault_totals

    end = "stopped (Ctrl-C)" if interrupted else {"finished": "end of set"}.get(session.status().state, "stopped")
    rec = session.recorder
    kept = f"; recorded {rec.path}" if rec is not None and rec.path.exists() else ""
    return f"{end}: {fault_totals({'reps': session.reps})}{kept}"


DEFAULT_PATH_HELP = f"{DEFAULT_DIR}/<date>-<time>-<exercise>[-<label>].jsonl"
"""How `default_path` names a recording, as the help of `live` and `record` says it."""


def default_path(exercise: str, label: str, now: dt.datetime | None = None) -> Path:
    now = now or dt.datetime.now()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()
    return DEFAULT_DIR / f"{now:%Y-%m-%d-%H%M%S}-{exercise}{'-' + slug if slug else ''}.jsonl"


def recording_path(args) -> Path:
    """--out, else the default file under recordings/ named by date, exercise and label (as `hinge record`)."""
    if args.out:
        from hinge.inputs import check_recording_out

        check_recording_out(args.out, "--out")
        return Path(args.out)
    path = default_path(args.exercise, args.label)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def make_source(args):
    """The packet source of `live` / `record`: two BLE sensors, or two emulated ones (--emulated)."""
    from hinge.sensing.ble import BleSource, SensorTarget

    if args.emulated:
        from hinge.sensing.profiles import load as load_profile
        from hinge.sources import simulated_set

        profile = load_profile(args.profile)
        sim = simulated_set(  # at the profile's own nominal rate unless --rate says otherwise
            args.exercise if args.exercise != "unknown" else "deadlift", reps=9, seed=1,
            rate_hz=args.rate or profile.nominal_hz, first_dwell_s=PLACEMENT_BEND_STAND_S,
        )  # a live start: the placement bend, a stand, then 8 reps
        from hinge.sensing.emulated_source import EmulatedSource

        return EmulatedSource(sim, profile)
    adapter = getattr(args, "adapter", None)
    missing = [name for name in SENSORS if not getattr(args, name)]
    if missing and not sys.stdin.isatty():
        raise UserError(f"--{missing[0]} ADDR is needed (find addresses with `hinge scan`), or use --emulated")
    import asyncio

    from hinge.sensing import ble

    asyncio.run(ble.check_bluetooth(adapter))  # no stack, adapter off, no permission: one line, before any file
    wait = {"scan_timeout_s": ble.FIND_TIMEOUT_S}  # read now: tests shorten it
    if missing:  # interactive: scan, list, and let the user say which sensor sits where
        import asyncio

        from hinge.sensing.ble import scan

        print("scanning for sensors (5 s)…", file=sys.stderr)
        found = asyncio.run(scan(5.0, adapter=adapter))
        chosen = choose_placements(found, say=lambda text: print(text, file=sys.stderr))
        return BleSource(
            [SensorTarget(p, f.address, f.profile, args.rate) for p, f in chosen.items()], adapter=adapter, **wait
        )
    return BleSource(
        [SensorTarget(name, getattr(args, name), args.profile, args.rate) for name in SENSORS], adapter=adapter, **wait
    )


def add_adapter_argument(p) -> None:
    """`--adapter hciN` (scan, record, live): passed to bleak as the BlueZ adapter."""
    p.add_argument("--adapter", metavar="hciN",
                   help="Bluetooth adapter to use, e.g. hci1 (Linux/BlueZ; default: the system's default adapter)")


def record_headless(args, out: Path) -> int:
    """`hinge record` from sensors: the live session in the terminal view (status line and rep rows)."""
    check_duration(args)
    from hinge.session import Session

    source = make_source(args)  # a Bluetooth stack that cannot be used fails here, before any file or folder
    if not args.out:
        out.parent.mkdir(parents=True, exist_ok=True)
    session = Session(source, exercise=args.exercise, record_to=out, label=args.label,
                      settings=settings_from_args(args), athlete=args.athlete,
                      swap=args.swap)
    print(f"recording to {out} (Ctrl-C stops)", file=sys.stderr)
    args.terminal, args.screenshot = True, None
    return present(session, args, title=f"hinge record · {args.exercise}")


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
    for placement in SENSORS:
        answer = ask(f"which sensor is on the {placement}? [1-{len(found)}] ").strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(found):
            raise UserError(f"{placement}: {answer!r} is not one of the listed numbers 1-{len(found)}")
        pick = found[int(answer) - 1]
        if any(f.address == pick.address for f in chosen.values()):
            raise UserError(f"{placement}: sensor {pick.address} is already the {next(iter(chosen))} sensor")
        chosen[placement] = pick
    return chosen
