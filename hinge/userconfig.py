"""The settings that stay between runs: one TOML file in the user's config folder.

Where: ``$HINGE_CONFIG_DIR/settings.toml`` when that variable is set (tests, portable installs), else the
platform's config folder: ``%APPDATA%\\hinge`` on Windows, ``~/Library/Application Support/hinge`` on macOS,
``$XDG_CONFIG_HOME/hinge`` (default ``~/.config/hinge``) elsewhere.

What: the sensor settings of `live` / `record` (``profile``, ``rate`` in Hz, the ``sacrum`` and ``thoracic``
addresses) and the fault limits (``limits.<kind>``: caution and fault in degrees, magnitudes on the fault's
own side, written as ``--limit`` takes them; an array ``[8, 12]`` is read too), in a ``[defaults]`` table
and per athlete in ``[athletes.<name>]``::

    [defaults]
    profile = "movella-dot"
    rate = 60.0

    [defaults.limits]
    trunk_behind_vertical = "8,12"

    [athletes.anna]
    sacrum = "D4:22:CD:00:A1:01"
    thoracic = "D4:22:CD:00:A1:02"

    [athletes.anna.limits]
    lumbar_rounding = "12,20"

A value is taken from the command-line option, else the athlete's table, else ``[defaults]``, else the
built-in default; limits kind by kind. Values are checked by the same rules as the command-line options
(`FaultLimits.with_magnitudes` for limits, the profile loader for profiles), when set and when read: a bad
value is one `UserError` line naming the file and the key. Reading uses the standard library's TOML
reader; writing uses ``tomli-w`` (the file is rewritten whole, so comments in it are not kept).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hinge.analysis.faults import FAULTS, FaultLimits
from hinge.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FILE_NAME = "settings.toml"
ENV_DIR = "HINGE_CONFIG_DIR"
SENSOR_KEYS = ("profile", "rate", "sacrum", "thoracic")
LIMIT_KEYS = tuple(f"limits.{kind}" for kind in FAULTS)
KEYS = SENSOR_KEYS + LIMIT_KEYS
"""Every key `hinge config set` takes."""
EXPECTED = {
    "profile": "a firmware profile name (see firmware_profiles/) or a profile .toml file",
    "rate": "a sample rate in Hz, a number > 0",
    "sacrum": "the sacrum sensor's address (as `hinge scan` lists it)",
    "thoracic": "the thoracic sensor's address (as `hinge scan` lists it)",
    **{
        f"limits.{kind}": "CAUTION,FAULT in degrees on the fault's own side, e.g. "
        + ",".join(f"{abs(v):g}" for v in FaultLimits().limits[kind])
        for kind in FAULTS
    },
}


def config_dir(environ: dict[str, str] | None = None, platform: str | None = None) -> Path:
    """The folder of the settings file (see the module docstring); nothing is created."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get(ENV_DIR):
        return Path(env[ENV_DIR])
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "hinge"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "hinge"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "hinge"


def config_path(environ: dict[str, str] | None = None, platform: str | None = None) -> Path:
    return config_dir(environ, platform) / FILE_NAME


# -- values: from text (`hinge config set`) and from the file, checked alike ------------------------------
def _check_profile(value: Any) -> str:
    from hinge.sensing.errors import InputError
    from hinge.sensing.profiles import available, load

    expected = f"expected one of {', '.join(available())}, or a profile .toml file"
    if not isinstance(value, str) or not value:
        raise ValueError(expected)
    try:
        load(value)
    except InputError as exc:
        raise ValueError(f"{exc}" if value.endswith(".toml") else f"no such profile; {expected}") from None
    return value


def _check_rate(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected {EXPECTED['rate']}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected {EXPECTED['rate']}")
    return float(value)


def _check_address(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"expected {EXPECTED[key]}")
    return value


def _check_limit(kind: str, value: Any) -> list[float]:
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"expected {EXPECTED['limits.' + kind]}") from None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in value)
    ):
        raise ValueError(f"expected {EXPECTED['limits.' + kind]}")
    caution, fault = (float(v) for v in value)
    try:  # the rule of --limit
        FaultLimits().with_magnitudes(kind, caution, fault)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected {EXPECTED['limits.' + kind]}") from None
    return [caution, fault]


def check_value(key: str, value: Any) -> Any:
    """The stored form of `value` (text as typed after `hinge config set KEY`, or a value read from the
    file) for `key`; ValueError saying what is expected."""
    if key == "profile":
        return _check_profile(value)
    if key == "rate":
        return _check_rate(value)
    if key in ("sacrum", "thoracic"):
        return _check_address(key, value)
    if key in LIMIT_KEYS:
        return _check_limit(key.split(".", 1)[1], value)
    raise ValueError(f"unknown key; expected one of {', '.join(KEYS)}")


def format_value(key: str, value: Any) -> str:
    """A stored value as `hinge config set` takes it."""
    if key in LIMIT_KEYS:
        return ",".join(f"{v:g}" for v in value)
    if key == "rate":
        return f"{value:g}"
    return str(value)


# -- the file ---------------------------------------------------------------------------------------------
@dataclass
class UserConfig:
    """The settings file's contents: `defaults` and `athletes[name]`, each a flat {KEY: value} dict
    (limits as ``"limits.<kind>": [caution, fault]``)."""

    path: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    athletes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, athlete: str = "") -> dict[str, Any]:
        return self.athletes.get(athlete, {}) if athlete else self.defaults

    def lookup(self, key: str, athlete: str = "") -> tuple[Any, str] | None:
        """(value, where it comes from: 'athlete NAME' or 'defaults') or None (built-in default)."""
        if athlete and key in self.athletes.get(athlete, {}):
            return self.athletes[athlete][key], f"athlete {athlete}"
        if key in self.defaults:
            return self.defaults[key], "defaults"
        return None

    def get(self, key: str, athlete: str = "", default: Any = None) -> Any:
        found = self.lookup(key, athlete)
        return default if found is None else found[0]

    def limits(self, athlete: str = "") -> FaultLimits:
        """Built-in limits, overridden kind by kind by [defaults] and then by the athlete's table."""
        limits = FaultLimits()
        for kind in FAULTS:
            value = self.get(f"limits.{kind}", athlete)
            if value is not None:
                limits = limits.with_magnitudes(kind, *value)
        return limits

    def set(self, key: str, text: str, athlete: str = "") -> Any:
        """Check and store one value (not yet saved); UserError naming the key and what it expects."""
        if key not in KEYS:
            raise UserError(f"{key}: unknown key; expected one of {', '.join(KEYS)}")
        try:
            value = check_value(key, text)
        except ValueError as exc:
            raise UserError(f"{key} {text!r}: {exc}") from None
        target = self.athletes.setdefault(athlete, {}) if athlete else self.defaults
        target[key] = value
        return value

    def unset(self, key: str, athlete: str = "") -> bool:
        if key not in KEYS:
            raise UserError(f"{key}: unknown key; expected one of {', '.join(KEYS)}")
        section = self.section(athlete)
        found = section.pop(key, None) is not None
        if athlete and not section:
            self.athletes.pop(athlete, None)
        return found

    def to_toml(self) -> dict[str, Any]:
        def table(flat: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {k: flat[k] for k in SENSOR_KEYS if k in flat}
            limits = {k.split(".", 1)[1]: format_value(k, flat[k]) for k in LIMIT_KEYS if k in flat}
            if limits:
                out["limits"] = limits
            return out

        doc: dict[str, Any] = {}
        if self.defaults:
            doc["defaults"] = table(self.defaults)
        if self.athletes:
            doc["athletes"] = {name: table(flat) for name, flat in sorted(self.athletes.items()) if flat}
        return doc

    def save(self) -> None:
        """Write the file whole (folder created if needed); replaced atomically, so a crash leaves the old
        file or the new one, never half of one."""
        import tomli_w

        text = tomli_w.dumps(self.to_toml())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise UserError(f"settings file {self.path}: cannot write: {exc.strerror or exc}") from None


def _flat_table(path: Path, where: str, table: Any) -> dict[str, Any]:
    """A [defaults] or [athletes.NAME] table as {KEY: checked value}; UserError naming file and key."""
    if not isinstance(table, dict):
        raise UserError(f"settings file {path}: {where}: expected a table of settings")
    flat: dict[str, Any] = {}
    for name, value in table.items():
        items = (
            [(f"limits.{k}", v) for k, v in value.items()]
            if name == "limits" and isinstance(value, dict)
            else [(name, value)]
        )
        for key, v in items:
            if key not in KEYS:
                raise UserError(f"settings file {path}: {where}.{key}: unknown key; expected one of {', '.join(KEYS)}")
            try:
                flat[key] = check_value(key, v)
            except ValueError as exc:
                raise UserError(f"settings file {path}: {where}.{key} = {v!r}: {exc}") from None
    return flat


def load(path: str | Path | None = None) -> UserConfig:
    """The settings file (default `config_path()`); a missing file is empty settings."""
    path = Path(path) if path is not None else config_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return UserConfig(path)
    except OSError as exc:
        raise UserError(f"settings file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"settings file {path}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"defaults", "athletes"}
    if unknown:
        raise UserError(f"settings file {path}: [{sorted(unknown)[0]}]: unknown table; expected [defaults] or "
                        "[athletes.NAME]")
    athletes = doc.get("athletes", {})
    if not isinstance(athletes, dict):
        raise UserError(f"settings file {path}: athletes: expected [athletes.NAME] tables")
    return UserConfig(
        path,
        _flat_table(path, "defaults", doc.get("defaults", {})),
        {str(name): _flat_table(path, f"athletes.{name}", t) for name, t in athletes.items()},
    )


def fill_sensor_options(args, config: UserConfig | None = None) -> None:
    """Fill the sensor options a command has (``profile``, ``rate``, ``sacrum``, ``thoracic``) that the
    command line left unset (None) from the settings of ``args.athlete``, then ``[defaults]``; ``profile``
    falls back to the built-in default profile."""
    from hinge.sensing.profiles import DEFAULT_PROFILE

    config = config or load()
    athlete = getattr(args, "athlete", "") or ""
    for key in SENSOR_KEYS:
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(args, key, config.get(key, athlete))
    if hasattr(args, "profile") and args.profile is None:
        args.profile = DEFAULT_PROFILE


def recorded_limits(path: str | Path, header: dict[str, Any]) -> FaultLimits | None:
    """The limits a recording's header stores (``limits_deg``, docs/ARCHITECTURE.md §4), None when it stores
    none; UserError naming the file when they are not valid limits."""
    stored = header.get("limits_deg")
    if stored is None:
        return None
    try:
        if not isinstance(stored, dict):
            raise ValueError("expected an object of fault kind -> [caution_deg, fault_deg]")
        overrides = {}
        for kind, pair in stored.items():
            if not isinstance(pair, list) or len(pair) != 2 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair
            ):
                raise ValueError(f"{kind}: expected [caution_deg, fault_deg], got {pair!r}")
            overrides[kind] = (float(pair[0]), float(pair[1]))
        return FaultLimits().with_overrides(**overrides)
    except ValueError as exc:
        raise UserError(f"{path}: header field 'limits_deg': {exc}") from None


LIMITS_FROM_RECORDING = "--limits-from-recording"


def recording_header(path: str | Path) -> dict[str, Any]:
    """A recording's header ({} for any other file: CSV, Parquet)."""
    from hinge.inputs import RECORDING_SUFFIXES
    from hinge.sensing.recording import read_recording

    return read_recording(path).header if str(path).lower().endswith(RECORDING_SUFFIXES) else {}


def judging_limits(
    path: str | Path, header: dict[str, Any], athlete: str = "", *, from_recording: bool = False,
    config: UserConfig | None = None,
) -> tuple[FaultLimits, str]:
    """(limits, athlete) a recorded set is judged by before any --limit: the current settings of the set's
    athlete (`athlete` if given, else the one the recording names), or with `from_recording` the limits
    the recording stores (a UserError when it stores none)."""
    athlete = athlete or str(header.get("athlete", "") or "")
    if from_recording:
        stored = recorded_limits(path, header)
        if stored is None:
            raise UserError(f"{path}: {LIMITS_FROM_RECORDING}: the file stores no limits (a CSV file, or recorded "
                            "before hinge stored them); judge it with the settings or --limit")
        return stored, athlete
    return (config or load()).limits(athlete), athlete
