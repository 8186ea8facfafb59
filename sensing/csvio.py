"""CSV interchange (docs/ARCHITECTURE.md §5): one long table, SI units, sensor frame.

    sensor,t,ax,ay,az,gx,gy,gz
    sacrum,0.004000,0.12,9.79,-0.31,0.001,-0.002,0.000

Rows may interleave sensors; each sensor's rows are in time order; rates may differ.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from hinge.sensing.errors import InputError
from hinge.sensing.types import SENSORS, SensorSeries

log = logging.getLogger(__name__)

COLUMNS = ("sensor", "t", "ax", "ay", "az", "gx", "gy", "gz")
NUMERIC = COLUMNS[1:]


def read_csv(path: str | Path, *, require: tuple[str, ...] = SENSORS) -> dict[str, SensorSeries]:
    """Read a CSV interchange file into one SensorSeries per sensor.

    Raises InputError (one line naming the file, row, column or sensor) for: a missing file or column,
    an unknown sensor name, a non-numeric / NaN / infinite value, a sensor in `require` with no rows,
    or a sensor whose times go backwards.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    out = _series(path, *_read_arrow(path), require)
    _release_arrow_memory()
    return out


def read_parquet(path: str | Path, *, require: tuple[str, ...] = SENSORS) -> dict[str, SensorSeries]:
    """Read the same table written as Parquet (`write_parquet`, `hinge export --parquet`); the same checks
    and one-line errors as `read_csv` (rows counted as in the CSV form: the header is row 1)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InputError(f"{path}: missing column {missing[0]!r}; expected columns {','.join(COLUMNS)}")
    table = pq.read_table(path, columns=list(COLUMNS))
    sensor = pc.dictionary_encode(table.column("sensor").cast(pa.string())).combine_chunks()
    codes = sensor.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    codes[sensor.is_null().to_numpy(zero_copy_only=False)] = -1
    try:
        values = [[table.column(c).cast(pa.float64()).to_numpy()] for c in NUMERIC]  # one part per column
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"{path}: a numeric column holds something else ({str(exc).splitlines()[0]})") from None
    del table
    out = _series(path, sensor.dictionary.to_pylist(), codes, values, require)
    del sensor, values
    _release_arrow_memory()
    return out


def _release_arrow_memory() -> None:
    """Hand the memory of the table just read back to the OS: pyarrow's allocator keeps freed buffers for
    itself, where numpy cannot reuse them, so the analysis would touch ~120 MB of fresh pages (60-min set)
    beside them — on a VM each fresh page is a costly fault. Called once per file, after the table is gone."""
    pa.default_memory_pool().release_unused()


def _series(path: Path, labels: list[str], codes: np.ndarray, values: list[np.ndarray],
            require: tuple[str, ...]) -> dict[str, SensorSeries]:
    """Per-sensor series from the table's sensor labels and codes and its 7 numeric columns, checked."""
    names = np.array([str(c).strip() for c in labels] + ["<empty>"], dtype=object)
    unknown = ~np.isin(names, SENSORS)[codes]  # code -1 (a missing name) maps to "<empty>"
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(
            f"{path}: row {i + 2}: unknown sensor {names[codes[i]]!r}; expected one of {', '.join(SENSORS)}"
        )
    for j, parts in enumerate(values):
        start = 0
        for part in parts:
            if not np.isfinite(part).all():
                i = start + int(np.flatnonzero(~np.isfinite(part))[0])
                raise InputError(f"{path}: row {i + 2}, column {NUMERIC[j]!r}: missing or non-finite value")
            start += len(part)
    out: dict[str, SensorSeries] = {}
    for sensor in SENSORS:
        mine = np.isin(codes, np.flatnonzero(names == sensor))
        n = int(np.count_nonzero(mine))
        if n == 0:
            if sensor in require:
                raise InputError(f"{path}: sensor {sensor!r} has no rows; both sacrum and thoracic are needed")
            continue
        t = _take(values[0], mine, np.empty(n))
        back = np.flatnonzero(np.diff(t) <= 0)
        if len(back):
            k = back[0]
            raise InputError(
                f"{path}: row {np.flatnonzero(mine)[k + 1] + 2}: sensor {sensor!r} time {t[k + 1]:.6f} s is not "
                f"after {t[k]:.6f} s; each sensor's rows must be in increasing time order"
            )
        acc, gyr = np.empty((n, 3)), np.empty((n, 3))
        for j in range(3):
            _take(values[1 + j], mine, acc[:, j])
            _take(values[4 + j], mine, gyr[:, j])
        out[sensor] = SensorSeries(sensor, t, acc, gyr)
    return out


def _take(parts: list[np.ndarray], rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The values of a column (its pieces, in order) at the rows where `rows` (bool, all rows) is True,
    written into out: one piece at a time, so no whole-column copy is ever made."""
    start = filled = 0
    for part in parts:
        v = part[rows[start : start + len(part)]]
        out[filled : filled + len(v)] = v
        start += len(part)
        filled += len(v)
    return out


def _read_arrow(path: Path) -> tuple[list[str], np.ndarray, list[list[np.ndarray]]]:
    """(sensor labels, per-row label codes, the 7 numeric columns), with pyarrow's multi-threaded reader.
    Each numeric column is the list of its pieces as pyarrow read them (numpy views of pyarrow's
    buffers, no copy: turning a chunked column into one array costs more than reading it).
    A file the typed read refuses is read again as text to name the row and column at fault (or to
    accept what only needs trimming, e.g. spaces after the commas)."""
    types = {"sensor": pa.dictionary(pa.int32(), pa.string()), **{c: pa.float64() for c in NUMERIC}}
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types,
                                                                          include_columns=COLUMNS))
        sensor = table.column("sensor")
        if sensor.null_count:
            raise ValueError("missing sensor names")
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError, UnicodeDecodeError):
        return _read_text(path)
    label_code: dict[str, int] = {}  # each piece has its own dictionary: one code per label over all
    codes = np.empty(table.num_rows, dtype=np.int64)
    start = 0
    for piece in sensor.chunks:
        lut = np.array([label_code.setdefault(x, len(label_code)) for x in piece.dictionary.to_pylist()], np.int64)
        codes[start : start + len(piece)] = lut[_view(piece.indices, np.int32)] if len(lut) else 0
        start += len(piece)
    values = [[_view(piece, np.float64) for piece in table.column(c).chunks] for c in NUMERIC]
    return list(label_code), codes, values


def _view(arr: pa.Array, dtype: type) -> np.ndarray:
    """A pyarrow array of fixed-width numbers without nulls as a numpy view of its buffer (pyarrow's own
    `to_numpy` imports pandas, ~0.5–1 s); with nulls, a copy with NaN for them."""
    if arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * np.dtype(dtype).itemsize)


def _read_text(path: Path) -> tuple[list[str], np.ndarray, list[list[np.ndarray]]]:
    """The careful read: every column as text, trimmed, then converted column by column; errors name
    the file, row and column. (pyarrow.compute is imported here: it takes ~0.2 s, and the typed read
    of a well-formed file does not need it.)"""
    import pyarrow.compute as pc

    try:
        with pa.input_stream(str(path), compression="detect") as f:
            header = f.read(1 << 16).split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
        as_text = {name: pa.string() for name in header.split(",")}  # the header's own spelling
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=as_text,
                                                                          strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError(f"{path}: empty file; expected a CSV header {','.join(COLUMNS)}") from None
        raise InputError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    table = table.rename_columns([str(c).strip() for c in table.column_names])
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column {missing[0]!r}; expected header {','.join(COLUMNS)}")
    sensor = pc.dictionary_encode(pc.utf8_trim_whitespace(table.column("sensor"))).combine_chunks()
    values = np.empty((table.num_rows, len(NUMERIC)))
    for j, col in enumerate(NUMERIC):
        text = pc.utf8_trim_whitespace(table.column(col))
        text = pc.if_else(pc.equal(text, ""), "nan", text)  # an empty cell is a missing value
        try:
            values[:, j] = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for i, cell in enumerate(text.to_pylist()):
                try:
                    float(cell)
                except ValueError:
                    raise InputError(f"{path}: row {i + 2}, column {col!r}: {cell!r} is not a number") from None
            raise
    codes = sensor.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return sensor.dictionary.to_pylist(), codes, [[values[:, j]] for j in range(len(NUMERIC))]


def _table(series: Mapping[str, SensorSeries]):
    """The interchange table of several sensors' samples, rows sorted by time (sensors interleaved): a
    pandas DataFrame (pandas formats and writes it; reading is pyarrow's alone)."""
    import pandas as pd

    frames = [
        pd.DataFrame(
            {
                "sensor": name,
                "t": s.t,
                **{c: s.acc[:, i] for i, c in enumerate(("ax", "ay", "az"))},
                **{c: s.gyr[:, i] for i, c in enumerate(("gx", "gy", "gz"))},
            }
        )
        for name, s in series.items()
    ]
    return pd.concat(frames, ignore_index=True).sort_values("t", kind="stable")


CSV_CHUNK_ROWS = 100_000


def write_csv(path: str | Path, series: Mapping[str, SensorSeries], *, exercise: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> None:
    """Write sensors' samples as a CSV interchange file (µs times, 6 decimals: lossless for int16 data).
    exercise: kept as an extra last column `exercise` (same value on every row; readers that pick the
    columns by name are unaffected). progress(rows_written, rows_total) after each block of rows."""
    table = _table(series)
    if exercise:
        table["exercise"] = exercise
    n = len(table)
    try:
        opener = gzip.open if str(path).lower().endswith(".gz") else open
        with opener(path, "wt", newline="") as f:
            for start in range(0, max(n, 1), CSV_CHUNK_ROWS):
                table.iloc[start : start + CSV_CHUNK_ROWS].to_csv(f, index=False, header=start == 0,
                                                                  float_format="%.6f")
                if progress is not None:
                    progress(min(start + CSV_CHUNK_ROWS, n), n)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


PARQUET_EXERCISE_KEY = b"hinge.exercise"
"""Parquet schema metadata key holding the set's exercise."""


def write_parquet(path: str | Path, series: Mapping[str, SensorSeries], *, exercise: str | None = None) -> None:
    """Write the same table as Parquet (full float64 precision); the exercise goes in the schema metadata."""
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_table(series), preserve_index=False)
    if exercise:
        meta = {**(table.schema.metadata or {}), PARQUET_EXERCISE_KEY: exercise.encode()}
        table = table.replace_schema_metadata(meta)
    try:
        pq.write_table(table, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def stored_exercise(path: str | Path) -> str | None:
    """The exercise an exported table carries (CSV: its `exercise` column; Parquet: its metadata), or None."""
    path = Path(path)
    try:
        if path.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            value = (pq.read_schema(path).metadata or {}).get(PARQUET_EXERCISE_KEY)
            return value.decode() if value else None
        with pa.input_stream(str(path), compression="detect") as f:
            head = f.read(1 << 16).decode("utf-8", errors="replace").splitlines()
    except (OSError, pa.ArrowInvalid):
        return None
    if len(head) < 2:
        return None
    columns = [c.strip() for c in head[0].split(",")]
    if "exercise" not in columns:
        return None
    cells = head[1].split(",")
    i = columns.index("exercise")
    return cells[i].strip() or None if i < len(cells) else None
