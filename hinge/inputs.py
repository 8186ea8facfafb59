"""Open any supported input file as per-sensor samples on one time base (CSV interchange, recording)."""

from __future__ import annotations

from pathlib import Path

from hinge.errors import UserError
from hinge.sensing.csvio import read_csv, read_parquet, stored_exercise
from hinge.sensing.types import OTHER_PLACEMENT, SensorSeries

RECORDING_SUFFIXES = (".jsonl", ".jsonl.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)


def input_kind(path: str | Path) -> str:
    """"csv", "parquet" or "recording" by the file name (the one place that dispatches on input suffixes)."""
    name = Path(path).name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(RECORDING_SUFFIXES):
        return "recording"
    raise UserError(
        f"{path}: unknown input type; expected a .csv interchange file (or its .parquet form) or a .jsonl[.gz] "
        "recording"
    )


def check_recording_out(path: str | Path, option: str = "--out") -> None:
    """A recording is written only under a name `analyze` and `replay` will read (.jsonl, .jsonl.gz)."""
    if not Path(path).name.lower().endswith(RECORDING_SUFFIXES):
        raise UserError(f"{option} {path}: a recording is written as .jsonl or .jsonl.gz (e.g. set.jsonl)")


def load_samples(path: str | Path, *, swap: bool = False) -> dict[str, SensorSeries]:
    """Samples of both sensors from a CSV interchange file (or its Parquet form) or a hinge recording; swap:
    the sensors sat on each other's places (`--swap`), so each stream is taken for the other placement."""
    kind = input_kind(path)
    if kind == "csv":
        samples = read_csv(path)
    elif kind == "parquet":
        samples = read_parquet(path)
    else:
        from hinge.sensing.stream import load_series  # decoding needs the profiles; imported on demand

        samples = load_series(path)
    return swap_placements(samples) if swap else samples


def swap_placements(samples: dict[str, SensorSeries]) -> dict[str, SensorSeries]:
    """The sacrum's series as the thoracic one and the other way round."""
    out = {OTHER_PLACEMENT.get(k, k): SensorSeries(OTHER_PLACEMENT.get(k, k), s.t, s.acc, s.gyr)
           for k, s in samples.items()}
    return {k: out[k] for k in sorted(out)}


def exercise_of(path: str | Path) -> str | None:
    """The exercise stored in a recording's header or an exported table (`hinge export`), or None."""
    if input_kind(path) != "recording":
        return stored_exercise(path)
    from hinge.sensing.recording import read_recording

    return read_recording(path).header.get("exercise")
