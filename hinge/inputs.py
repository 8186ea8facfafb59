"""Open any supported input file as per-sensor samples on one time base (CSV interchange, recording)."""

from __future__ import annotations

from pathlib import Path

from hinge.errors import UserError
from sensing.csvio import read_csv
from sensing.types import SensorSeries

RECORDING_SUFFIXES = (".jsonl", ".jsonl.gz")


def load_samples(path: str | Path) -> dict[str, SensorSeries]:
    """Samples of both sensors from a CSV interchange file or a hinge recording."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return read_csv(path)
    if name.endswith(RECORDING_SUFFIXES):
        from sensing.stream import load_series  # decoding needs the profiles; imported on demand

        return load_series(path)
    raise UserError(f"{path}: unknown input type; expected a .csv interchange file or a .jsonl[.gz] recording")


def exercise_of(path: str | Path) -> str | None:
    """The exercise stored in a recording's header, or None (CSV files carry none)."""
    name = Path(path).name.lower()
    if not name.endswith(RECORDING_SUFFIXES):
        return None
    from sensing.recording import read_recording

    return read_recording(path).header.get("exercise")
