"""Open any supported input file as per-sensor samples on one time base (CSV interchange, recording)."""

from __future__ import annotations

from pathlib import Path

from hinge.errors import UserError
from hinge.sensing.csvio import read_csv
from hinge.sensing.types import SensorSeries

RECORDING_SUFFIXES = (".jsonl", ".jsonl.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")


def input_kind(path: str | Path) -> str:
    """"csv" or "recording" by the file name (the one place that dispatches on input suffixes)."""
    name = Path(path).name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(RECORDING_SUFFIXES):
        return "recording"
    raise UserError(f"{path}: unknown input type; expected a .csv interchange file or a .jsonl[.gz] recording")


def load_samples(path: str | Path, *, swap: bool = False) -> dict[str, SensorSeries]:
    """Samples of both sensors from a CSV interchange file or a hinge recording; swap: the sensors sat on
    each other's places (`--swap`), so each stream is taken for the other placement."""
    if input_kind(path) == "csv":
        samples = read_csv(path)
    else:
        from hinge.sensing.stream import load_series  # decoding needs the profiles; imported on demand

        samples = load_series(path)
    return swap_placements(samples) if swap else samples


def swap_placements(samples: dict[str, SensorSeries]) -> dict[str, SensorSeries]:
    """The sacrum's series as the thoracic one and the other way round."""
    other = {"sacrum": "thoracic", "thoracic": "sacrum"}
    out = {other.get(k, k): SensorSeries(other.get(k, k), s.t, s.acc, s.gyr) for k, s in samples.items()}
    return {k: out[k] for k in sorted(out)}


def exercise_of(path: str | Path) -> str | None:
    """The exercise stored in a recording's header, or None (CSV files carry none)."""
    if input_kind(path) != "recording":
        return None
    from hinge.sensing.recording import read_recording

    return read_recording(path).header.get("exercise")
