"""One input file analysed, with what is known about the set: the shared step of `report`, `history` and
batch `analyze`.

A set is identified by its file's content (SHA-256 of the bytes), so a renamed or moved file is the same
set and a re-analysis (new version, new limits) replaces the old one. The result is plain data (the
analyzer JSON plus metadata) so it crosses process and Dask worker boundaries unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


from hinge import __version__
from hinge.analysis.pipeline import Settings, analyze
from hinge.errors import UserError
from hinge.inputs import RECORDING_SUFFIXES, exercise_of, load_samples

log = logging.getLogger(__name__)

METRICS = ("depth_deg", "trunk_top_deg", "pelvis_top_deg", "lumbar_top_deg", "lumbar_flexion_max_deg")
"""Per-rep metrics of the analyzer JSON (degrees)."""
SEVERITY_ORDER = ("ok", "caution", "fault")
"""A rep's worst fault severity, best to worst ('gap' reps are not judged)."""


@dataclass(frozen=True)
class SetInfo:
    """What is known about a set besides its samples. recorded_at: ISO 8601 UTC ('' unknown); athlete and
    label: '' when unknown; profiles: firmware profile per sensor ('' for CSV files); recorded_limits_deg: the
    fault limits the recording says it was judged by (docs/ARCHITECTURE.md §4), None when it says none."""

    file: str
    content_hash: str
    exercise: str
    recorded_at: str = ""
    athlete: str = ""
    label: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    recorded_limits_deg: dict[str, list[float]] | None = None


@dataclass
class AnalysedSet:
    """A set and its analysis: `result` is the analyzer JSON (`Analysis.to_json`), `settings` the settings
    used (JSON-able), `frames` the angle traces (None unless asked for)."""

    info: SetInfo
    result: dict[str, Any]
    settings: dict[str, Any]
    frames: pd.DataFrame | None = None

    @property
    def reps(self) -> list[dict[str, Any]]:
        return self.result["reps"]


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return h.hexdigest()


def parse_date(text: str, what: str = "--date") -> str:
    """An ISO 8601 date or date-time (naive = UTC) as 'YYYY-MM-DDTHH:MM:SSZ'."""
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{what} {text!r}: expected an ISO date such as 2026-11-25 or 2026-11-25T15:35") from None
    return iso_utc(d)


def iso_utc(d: dt.datetime) -> str:
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_info(
    path: Path, *, exercise: str | None = None, athlete: str = "", date: str = "", identify: bool = True
) -> SetInfo:
    """SetInfo from the file (recording header: exercise, start time, label, profiles, athlete if stored)
    and the user's options, which win over the file. identify=False leaves content_hash '' (a set that is
    not stored needs no identity; hashing a 60-min CSV reads its 114 MB once more)."""
    header: dict[str, Any] = {}
    if path.name.lower().endswith(RECORDING_SUFFIXES):
        from hinge.sensing.recording import read_recording

        header = read_recording(path).header
    elif path.is_file():  # an exported table keeps the exercise (`hinge export`)
        header = {"exercise": exercise_of(path)}
    recorded_at = date or (parse_date(header["started_at"], f"{path}: started_at") if header.get("started_at") else "")
    return SetInfo(
        file=str(path),
        content_hash=content_hash(path) if identify else "",
        exercise=exercise or header.get("exercise") or "unknown",
        recorded_at=recorded_at,
        athlete=athlete or str(header.get("athlete", "")),
        label=str(header.get("label", "")),
        profiles={name: str(s.get("profile", "")) for name, s in header.get("sensors", {}).items()},
        recorded_limits_deg=_recorded_limits(path, header),
    )


def _recorded_limits(path: Path, header: dict[str, Any]) -> dict[str, list[float]] | None:
    """The header's limits, for showing; an unreadable field is said and ignored (it judges nothing)."""
    from hinge.userconfig import recorded_limits

    try:
        limits = recorded_limits(path, header)
    except UserError as exc:
        log.warning("%s", exc)
        return None
    return None if limits is None else limits_json(limits.limits)


def limits_json(limits: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Fault limits as stored in files: kind -> [caution_deg, fault_deg], signed like the analyzer's limit_deg."""
    return {k: [float(c), float(f)] for k, (c, f) in limits.items()}


def settings_json(settings: Settings) -> dict[str, Any]:
    """The settings a user can change, as stored with a set: fault limits (degrees), fusion mode, version."""
    return {
        "limits": limits_json(settings.limits.limits),
        "offline": settings.offline,
        "hinge_version": __version__,
    }


def analyse_file(
    path: str | Path,
    settings: Settings,
    *,
    exercise: str | None = None,
    athlete: str = "",
    date: str = "",
    keep_frames: bool = False,
    analyse=analyze,
    swap: bool = False,
    identify: bool = True,
) -> AnalysedSet:
    """Load and analyse one file. analyse: `hinge.analysis.pipeline.analyze` or a drop-in (the single-file
    command passes its parallel-fusion variant); swap: the sensors sat on each other's places (`--swap`);
    identify: compute the content hash (`set_info`), needed only to store the set."""
    name, path = str(path), Path(path)
    samples = load_samples(path, swap=swap)
    info = set_info(path, exercise=exercise, athlete=athlete, date=date, identify=identify)
    info = SetInfo(**{**info.__dict__, "file": name})
    a = analyse(samples, exercise=info.exercise, settings=settings, consume=True)  # samples: freed once gridded
    result = a.to_json(name)
    result["athlete"] = info.athlete
    result["limits_deg"] = limits_json(settings.limits.limits)
    if info.recorded_limits_deg is not None:
        result["recorded_limits_deg"] = info.recorded_limits_deg
    return AnalysedSet(info, result, settings_json(settings), a.frames if keep_frames else None)


def worst_severity(rep: dict[str, Any]) -> str:
    """'gap' (not judged: a data gap, or faults withheld while the placement is in doubt), 'fault',
    'caution' or 'ok'."""
    if rep.get("gap") or rep.get("withheld"):
        return "gap"
    sev = {f["severity"] for f in rep["faults"]}
    return next((s for s in reversed(SEVERITY_ORDER) if s in sev), "ok")


REP_TABLE_COLUMNS = (
    "file", "content_hash", "athlete", "exercise", "recorded_at",
    "rep", "start_s", "bottom_s", "top_s", "end_s", *METRICS, "gap", "worst", "faults",
)  # fmt: skip


def rep_rows(info: SetInfo, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per rep (REP_TABLE_COLUMNS): the batch table and the history export."""
    rows = []
    for r in reps:
        rows.append(
            {
                "file": info.file,
                "content_hash": info.content_hash,
                "athlete": info.athlete,
                "exercise": info.exercise,
                "recorded_at": info.recorded_at,
                "rep": r["index"],
                **{k: r[k] for k in ("start_s", "bottom_s", "top_s", "end_s", *METRICS)},
                "gap": bool(r["gap"]),
                "worst": worst_severity(r),
                "faults": ", ".join(f"{f['kind']}:{f['severity']}" for f in r["faults"]),
            }
        )
    return rows


def rep_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with fixed columns and dtypes (identical whichever machine built the rows)."""
    import pandas as pd  # only for tables: a single `hinge analyze` prints text without it

    df = pd.DataFrame(rows, columns=list(REP_TABLE_COLUMNS))
    for c in ("start_s", "bottom_s", "top_s", "end_s", *METRICS):
        df[c] = df[c].astype("float64")
    df["rep"] = df["rep"].astype("int64")
    df["gap"] = df["gap"].astype("bool")
    for c in ("file", "content_hash", "athlete", "exercise", "recorded_at", "worst", "faults"):
        df[c] = df[c].astype("string")
    return df


def fault_totals(result: dict[str, Any]) -> str:
    """'10 reps; trunk behind vertical ×10 (fault 10), lumbar rounding ×1 (caution 1)' or '…; no faults'."""
    counts: dict[str, dict[str, int]] = {}
    for rep in result["reps"]:
        for f in rep["faults"]:
            by_severity = counts.setdefault(f["kind"], {})
            by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    totals = [
        f"{kind.replace('_', ' ')} ×{sum(c.values())} (" + ", ".join(f"{s} {n}" for s, n in sorted(c.items())) + ")"
        for kind, c in counts.items()
    ]
    n = len(result["reps"])
    return f"{n} rep{'s' if n != 1 else ''}; " + (", ".join(totals) if totals else "no faults")


def check_table_path(path: str | Path, option: str = "--table") -> str:
    """'.parquet' or '.csv', the table format named by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UserError(f"{option} {path}: expected a file name ending in .parquet or .csv")
    return suffix


def write_table(df: pd.DataFrame, path: str | Path, option: str = "--table") -> None:
    """Write a rep table as Parquet (.parquet) or CSV (.csv)."""
    suffix = check_table_path(path, option)
    try:
        if suffix == ".parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
