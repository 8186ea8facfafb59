"""`hinge config show|set|unset|path`: the settings that stay between runs (hinge/userconfig.py)."""

from __future__ import annotations

import re

from hinge.analysis.faults import FaultLimits
from hinge.userconfig import KEYS, LIMIT_KEYS, config_path, format_value, load

HELP = "show or change the settings that stay: sensor addresses, profile, rate and limits, per athlete"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="every setting in effect and where it comes from")
    set_ = sub.add_parser("set", help=f"store one setting (keys: {', '.join(KEYS)})")
    set_.add_argument("key", metavar="KEY", help=f"one of {', '.join(KEYS)}")
    set_.add_argument("value", metavar="VALUE", help="as the option takes it, e.g. 8,12 for a limit, 60 for rate")
    # a value such as -5,10 is a value to check, not an option (argparse before 3.13 only knows plain -5)
    set_._negative_number_matcher = re.compile(r"^-\.?\d")
    unset = sub.add_parser("unset", help="remove one setting (the next level applies again)")
    unset.add_argument("key", metavar="KEY", help=f"one of {', '.join(KEYS)}")
    sub.add_parser("path", help="where the settings file is")
    for q in (show, set_, unset):
        q.add_argument("--athlete", default="", metavar="NAME",
                       help="this athlete's settings (default: the [defaults] every athlete starts from)")


def _builtin(key: str) -> str:
    if key == "profile":
        from hinge.sensing.profiles import DEFAULT_PROFILE

        return DEFAULT_PROFILE
    if key == "rate":
        return "the profile's nominal rate"
    if key in LIMIT_KEYS:
        caution, fault = FaultLimits().limits[key.split(".", 1)[1]]
        return f"{abs(caution):g},{abs(fault):g}"
    return "— (--sacrum/--thoracic, or picked from a scan)"


def show_text(config, athlete: str = "") -> str:
    exists = config.path.is_file()
    lines = [f"settings file: {config.path}" + ("" if exists else " (none yet: built-in defaults)")]
    if athlete:
        known = athlete in config.athletes
        lines.append(f"athlete: {athlete}" + ("" if known else " (no settings of their own: [defaults] apply)"))
    for key in KEYS:
        found = config.lookup(key, athlete)
        value, where = (format_value(key, found[0]), found[1]) if found else (_builtin(key), "built-in")
        lines.append(f"  {key:29s} = {value}  ({where})")
    if config.athletes:
        lines.append("athletes: " + ", ".join(sorted(config.athletes)))
    return "\n".join(lines)


def run(args) -> int:
    if args.action == "path":
        print(config_path())
        return 0
    config = load()
    who = f"athlete {args.athlete}" if args.athlete else "defaults"
    if args.action == "show":
        print(show_text(config, args.athlete))
    elif args.action == "set":
        value = config.set(args.key, args.value, args.athlete)
        config.save()
        print(f"{args.key} = {format_value(args.key, value)} ({who}) in {config.path}")
    else:
        found = config.unset(args.key, args.athlete)
        if found:
            config.save()
        print(f"{args.key}: " + ("removed" if found else "was not set") + f" ({who}) in {config.path}")
    return 0
