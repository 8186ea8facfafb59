"""`hinge live`: stream two sensors, see the angles and get the cue at the top of each rep (records too).

Also home of what `live`, `demo` and `replay` share: the view options and `present` (window when a
display is available, else the terminal view).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from analysis.pipeline import Settings
from hinge.commands.analyze import add_limit_argument
from hinge.commands.scan import add_adapter_argument
from hinge.errors import UserError
from hinge.runner import DEFAULT_PROFILE, BleFeed, EmulatedFeed, Session, has_display, simulated_set

log = logging.getLogger(__name__)

HELP = "stream two sensors live: angles, reps and cues in a window (records the set too)"
EXERCISES = ("deadlift", "swing", "good_morning", "unknown")


def add_view_arguments(p) -> None:
    """Options every live view takes (live, demo, replay)."""
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--screenshot", metavar="PNG", help="save the window as PNG when it stops (works without a display)")
    p.add_argument("--terminal", action="store_true", help="terminal view even when a display is available")
    add_limit_argument(p)


def add_arguments(p) -> None:
    p.add_argument("--sacrum", metavar="ADDR", help="address of the sensor on the sacrum")
    p.add_argument("--thoracic", metavar="ADDR", help="address of the sensor between the shoulder blades")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"firmware profile of both sensors ({DEFAULT_PROFILE})")
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate to configure (default: the profile's nominal)")
    p.add_argument("--exercise", choices=EXERCISES, default="unknown")
    p.add_argument("--label", default="", help="label stored in the recording")
    p.add_argument("--out", metavar="FILE", help="recording to write (default: hinge-<exercise>-<time>.jsonl here)")
    p.add_argument("--no-record", action="store_true", help="do not record the set")
    p.add_argument(
        "--emulated",
        action="store_true",
        help="no radio: two emulated BLE sensors stream a simulated set (addresses optional)",
    )
    add_adapter_argument(p)
    add_view_arguments(p)


def settings_from_args(args) -> Settings:
    from hinge.commands.analyze import parse_limits

    return Settings(limits=parse_limits(args.limit))


def check_duration(args) -> None:
    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration {args.duration:g}: expected a positive number of seconds")


def present(session: Session, args, *, title: str) -> int:
    """Show a session until it ends, `--duration` passes or the window is closed.

    Window when a display is available (or `--screenshot` is asked for: then Qt's offscreen platform
    draws it without a display, and the terminal view prints alongside); else the terminal view.
    """
    want_window = not args.terminal and (has_display() or args.screenshot)
    offscreen = False
    if want_window and not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        offscreen = True
    offscreen = offscreen or os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen")
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
            from hinge.terminal import run_headless

            asyncio.run(run_headless(session, duration_s=args.duration))
    finally:
        session.close()
    if session.error is not None:
        raise session.error
    return 0


def recording_path(args) -> Path:
    """--out, else the default file under recordings/ named by date, exercise and label (as `hinge record`)."""
    from hinge.commands.record import default_path

    if args.out:
        return Path(args.out)
    path = default_path(args.exercise, args.label)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def make_source(args):
    """The packet source of `live` / `record`: two BLE sensors, or two emulated ones (--emulated)."""
    from sensing.ble import SensorTarget

    if args.emulated:
        sim = simulated_set(
            args.exercise if args.exercise != "unknown" else "deadlift", reps=8, seed=1, rate_hz=args.rate or 200.0
        )
        from sensing.profiles import load

        return EmulatedFeed(sim, load(args.profile))
    adapter = getattr(args, "adapter", None)
    missing = [name for name in ("sacrum", "thoracic") if not getattr(args, name)]
    if missing and not sys.stdin.isatty():
        raise UserError(f"--{missing[0]} ADDR is needed (find addresses with `hinge scan`), or use --emulated")
    if missing:  # interactive: scan, list, and let the user say which sensor sits where
        from hinge.commands.scan import choose_placements
        from sensing.ble import scan

        print("scanning for sensors (5 s)…", file=sys.stderr)
        chosen = choose_placements(asyncio.run(scan(5.0, adapter=adapter)),
                                   say=lambda text: print(text, file=sys.stderr))
        return BleFeed([SensorTarget(p, f.address, f.profile, args.rate) for p, f in chosen.items()], adapter=adapter)
    return BleFeed(
        [SensorTarget(name, getattr(args, name), args.profile, args.rate) for name in ("sacrum", "thoracic")],
        adapter=adapter,
    )


def run(args) -> int:
    check_duration(args)
    source = make_source(args)
    out = None if args.no_record else recording_path(args)
    session = Session(
        source, exercise=args.exercise, settings=settings_from_args(args), record_to=out, label=args.label
    )
    if out is not None:
        print(f"recording to {out}", file=sys.stderr)
    return present(session, args, title=f"hinge live · {args.exercise}")


def record_headless(args, out: Path) -> int:
    """`hinge record` from sensors: the live session in the terminal view (status line and rep rows)."""
    check_duration(args)
    session = Session(make_source(args), exercise=args.exercise, record_to=out, label=args.label)
    print(f"recording to {out} (Ctrl-C stops)", file=sys.stderr)
    args.terminal, args.screenshot = True, None
    return present(session, args, title=f"hinge record · {args.exercise}")
