"""Sources built from what the user asks for: a simulated set, a replayed file (recording or CSV), the
emulated BLE pair. The sources themselves live in `sensing` (docs/ARCHITECTURE.md §9)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hinge.convert import csv_to_recording
from hinge.inputs import input_kind
from hinge.sensing.profiles import DEFAULT_PROFILE, Profile
from hinge.sensing.profiles import load as load_profile
from hinge.sensing.replay import Clock, ReplaySource
from hinge.sensing.replay import simulated_source as _paced
from hinge.sensing.simsource import simulated_packets
from hinge.sensing.simulator import SimConfig, SimulatedSet, simulate_set
from hinge.sensing.types import SENSORS

__all__ = ["DEFAULT_PROFILE", "replay_source", "simulated_set", "simulated_source"]


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
