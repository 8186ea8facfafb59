"""Sources built from what the user asks for: a simulated set, a replayed file (recording or CSV), the
emulated BLE pair. The sources themselves live in `sensing` (docs/ARCHITECTURE.md §9)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

from hinge.convert import csv_to_recording
from hinge.errors import UserError
from hinge.inputs import input_kind
from hinge.sensing.profiles import DEFAULT_PROFILE, Profile
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.replay import Clock, ReplaySource
from hinge.sensing.replay import simulated_source as _paced
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimConfig, SimulatedSet, simulate_set
from hinge.sensing.types import SENSORS

__all__ = ["DEFAULT_PROFILE", "replay_source", "set_caption", "simulated_set", "simulated_source"]


def simulated_set(exercise: str = "deadlift", reps: int = 6, seed: int = 0, *, rate_hz: float = 200.0,
                  faults: dict[str, float] | None = None, **kw: Any) -> SimulatedSet:
    """A simulated set at one rate for both sensors (what `demo` and the benches stream)."""
    return simulate_set(
        SimConfig(exercise=exercise, reps=reps, seed=seed, rates_hz={s: rate_hz for s in SENSORS}, faults=faults, **kw)
    )


def simulated_source(sim: SimulatedSet, profile: str | Profile = DEFAULT_PROFILE, *, speed: float | None = 1.0,
                     clock: Clock | None = None) -> ReplaySource:
    """A simulated set encoded by `profile` (real payload bytes), paced like a replay."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    profiles = {s: prof for s in sim.series}
    return _paced(simulated_packets(sim, profiles), profiles, sim.rates_hz, speed=speed, clock=clock)


def replay_source(path: str | Path, *, speed: float | None = 1.0, clock: Clock | None = None) -> ReplaySource:
    """A `ReplaySource` for a recording, or for a CSV interchange file (converted to a temporary
    recording, removed when the source closes)."""
    path = Path(path)
    if input_kind(path) == "recording":
        return ReplaySource(path, speed=speed, clock=clock)
    tmp = tempfile.TemporaryDirectory(prefix="hinge-replay-")
    try:
        rec = csv_to_recording(path, Path(tmp.name) / (path.name.split(".")[0] + ".jsonl"))
        return ReplaySource(rec, speed=speed, clock=clock, tmpdir=tmp, label=str(path))
    except BaseException:
        tmp.cleanup()
        raise


def set_caption(source: Any, recorder: Any = None, *, now: dt.datetime | None = None,
                athlete: str | None = None) -> str:
    """"date · athlete · file" of a session's set, for the window's top row and its screenshot.

    date: the start of the recording replayed or being written (a replayed CSV file, converted on the
    fly, has none: its modification time), else `now`; local time, to the minute. athlete: the
    caller's, else the recording header's; left out when unknown. file: the file recorded to, else
    what a replay shows as its source (the file given, or "simulated set"); left out for a live set not
    recorded."""
    header = getattr(source, "header", None) or {}
    file = str(recorder.path) if recorder is not None else getattr(source, "label", None) if header else None
    header = header or (recorder.header if recorder is not None else {})
    when: dt.datetime | None = None
    if recorder is None and file and _is_csv(file):
        with contextlib.suppress(OSError):
            when = dt.datetime.fromtimestamp(os.path.getmtime(file), dt.timezone.utc)
    elif header.get("started_at"):
        with contextlib.suppress(ValueError):
            when = dt.datetime.fromisoformat(str(header["started_at"]).replace("Z", "+00:00"))
    when = when or now or dt.datetime.now(dt.timezone.utc)
    athlete = athlete or header.get("athlete") or None
    parts = [when.astimezone().strftime("%Y-%m-%d %H:%M"), f"athlete {athlete}" if athlete else "", file or ""]
    return " · ".join(p for p in parts if p)


def _is_csv(path: str) -> bool:
    try:
        return input_kind(path) == "csv"
    except UserError:
        return False
