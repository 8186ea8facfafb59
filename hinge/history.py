"""History of every set: a local SQLite database (standard-library sqlite3).

Where: ``$XDG_DATA_HOME/hinge/history.sqlite`` (``~/.local/share/hinge/...`` when XDG_DATA_HOME is unset),
or any file given with ``--db``. One row per set in ``sets``, identified by the content hash of its input
file: re-analysing a set (new version, new limits) replaces its row and its reps, never duplicates them
(an athlete or date known before and not given again is kept).
Per-rep metrics in ``reps`` (degrees, seconds), faults in ``faults``.

Schema versions live in ``PRAGMA user_version``; `MIGRATIONS` lists the steps from each version to the
next, applied in one transaction on open. A database of a newer version, or a file that is not a hinge
history database, is a one-line `UserError` and is left untouched. Writers take SQLite's write lock up
front (BEGIN IMMEDIATE) and wait for each other (busy timeout), so concurrent processes lose nothing.

Times: ``recorded_at`` is when the set was done (from the recording, or given), ``analysed_at`` when it
was stored; both ISO 8601 UTC, and the caller passes ``analysed_at`` in (no clock is read here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


from hinge.analysis.errors import AnalysisError
from hinge.analysis.pipeline import Settings
from hinge.analysis.report import plural
from hinge.errors import UserError
from hinge.sensing.errors import InputError
from hinge.sets import METRICS, AnalysedSet, SetInfo, analyse_file, iso_utc, rep_rows, rep_table

APP_ID = 0x68696E67  # 'hing': PRAGMA application_id of a hinge history database
BUSY_TIMEOUT_S = 60.0

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: sets, reps, faults
    """
    CREATE TABLE sets (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL UNIQUE,
        file TEXT NOT NULL,
        athlete TEXT NOT NULL DEFAULT '',
        exercise TEXT NOT NULL,
        recorded_at TEXT NOT NULL DEFAULT '',
        analysed_at TEXT NOT NULL,
        hinge_version TEXT NOT NULL,
        settings TEXT NOT NULL,
        n_reps INTEGER NOT NULL,
        calibration TEXT NOT NULL,
        sensors TEXT NOT NULL,
        warnings TEXT NOT NULL
    );
    CREATE TABLE reps (
        set_id INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
        rep INTEGER NOT NULL,
        start_s REAL, bottom_s REAL, top_s REAL, end_s REAL,
        depth_deg REAL, trunk_top_deg REAL, pelvis_top_deg REAL, lumbar_top_deg REAL, lumbar_flexion_max_deg REAL,
        gap INTEGER NOT NULL,
        PRIMARY KEY (set_id, rep)
    );
    CREATE TABLE faults (
        set_id INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
        rep INTEGER NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        value_deg REAL NOT NULL,
        limit_deg REAL NOT NULL
    );
    """,
    # 1 -> 2: the listing filters and sorts by athlete, exercise and date
    """
    CREATE INDEX sets_by_athlete ON sets (athlete, exercise, recorded_at);
    CREATE INDEX faults_by_set ON faults (set_id, rep);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_path(environ: dict[str, str] | None = None) -> Path:
    """The history file in the user's data folder (XDG_DATA_HOME, else ~/.local/share)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "hinge" / "history.sqlite"


class History:
    """An open history database. Use as a context manager or call close()."""

    def __init__(self, path: str | Path, *, migrate_to: int = SCHEMA_VERSION):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise UserError(f"history database {self.path}: not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"history database {self.path}: cannot create its folder: {exc.strerror or exc}") from None
        self._con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            self._open(migrate_to)
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise UserError(f"history database {self.path}: unreadable ({exc}); not a hinge history file?") from None
        except UserError:
            self._con.close()
            raise

    def _open(self, migrate_to: int) -> None:
        con = self._con
        con.execute("PRAGMA foreign_keys = ON")
        self._check(*con.execute("PRAGMA application_id").fetchone(), *con.execute("PRAGMA user_version").fetchone())
        if con.execute("PRAGMA user_version").fetchone()[0] >= migrate_to:
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            app_id, version = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version"))
            self._check(app_id, version)  # again, under the write lock: another process may have migrated
            if version == 0:
                con.execute(f"PRAGMA application_id = {APP_ID}")
            for v in range(version, migrate_to):
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute(f"PRAGMA user_version = {v + 1}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if version == 0:
            con.execute("PRAGMA journal_mode = WAL")  # readers never block the writer

    def _check(self, app_id: int, version: int) -> None:
        if version == 0 and app_id == 0:
            tables = self._con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise UserError(f"history database {self.path}: an SQLite file of another program; not touched")
            return
        if app_id != APP_ID:
            raise UserError(f"history database {self.path}: an SQLite file of another program; not touched")
        if version > SCHEMA_VERSION:
            raise UserError(
                f"history database {self.path}: schema version {version} is newer than this hinge knows "
                f"({SCHEMA_VERSION}); upgrade hinge (the file is left as it is)"
            )

    def version(self) -> int:
        return self._con.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sqlite_errors(self, doing: str) -> Iterator[None]:
        """sqlite3 errors after opening (read-only file, disk full, locked past the timeout) as one line."""
        try:
            yield
        except sqlite3.Error as exc:
            raise UserError(f"history database {self.path}: cannot {doing}: {exc}") from None

    def save(self, sets: Iterable[AnalysedSet], *, analysed_at: str) -> int:
        """Insert or replace sets (by content hash) with their reps and faults, all in one transaction.
        Returns the number of sets written."""
        con = self._con
        n = 0
        with self._sqlite_errors("store the sets"):
            con.execute("BEGIN IMMEDIATE")
            try:
                for s in sets:
                    self._save_one(s, analysed_at)
                    n += 1
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return n

    def _save_one(self, s: AnalysedSet, analysed_at: str) -> None:
        con, info, r = self._con, s.info, s.result
        sensors = {
            name: {**v, "profile": info.profiles.get(name, "")} for name, v in r["sensors"].items()
        }  # fmt: skip
        values = {
            "content_hash": info.content_hash,
            "file": info.file,
            "athlete": info.athlete,
            "exercise": info.exercise,
            "recorded_at": info.recorded_at,
            "analysed_at": analysed_at,
            "hinge_version": s.settings.get("hinge_version", ""),
            "settings": json.dumps(s.settings, sort_keys=True),
            "n_reps": len(r["reps"]),
            "calibration": json.dumps(r["calibration"], sort_keys=True),
            "sensors": json.dumps(sensors, sort_keys=True),
            "warnings": json.dumps(r["warnings"]),
        }
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        keep = ("athlete", "recorded_at")  # known before, not given now: kept
        updates = ", ".join(
            f"{c} = CASE WHEN excluded.{c} != '' THEN excluded.{c} ELSE {c} END" if c in keep else f"{c} = excluded.{c}"
            for c in values
            if c != "content_hash"
        )
        (set_id,) = con.execute(
            f"INSERT INTO sets ({cols}) VALUES ({marks}) "
            f"ON CONFLICT(content_hash) DO UPDATE SET {updates} RETURNING id",
            values,
        ).fetchone()
        con.execute("DELETE FROM faults WHERE set_id = ?", (set_id,))
        con.execute("DELETE FROM reps WHERE set_id = ?", (set_id,))
        rep_cols = ("start_s", "bottom_s", "top_s", "end_s", *METRICS)
        con.executemany(
            f"INSERT INTO reps (set_id, rep, {', '.join(rep_cols)}, gap) "
            f"VALUES ({', '.join('?' * (len(rep_cols) + 3))})",
            [(set_id, rep["index"], *(rep[c] for c in rep_cols), int(bool(rep["gap"]))) for rep in r["reps"]],
        )
        con.executemany(
            "INSERT INTO faults (set_id, rep, kind, severity, value_deg, limit_deg) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (set_id, rep["index"], f["kind"], f["severity"], f["value_deg"], f["limit_deg"])
                for rep in r["reps"]
                for f in rep["faults"]
            ],
        )

    # -- reading ----------------------------------------------------------------------------------

    def sets(self, *, athlete: str | None = None, exercise: str | None = None) -> pd.DataFrame:
        """One row per set, oldest first: id, recorded_at, athlete, exercise, n_reps, faults (count), file,
        content_hash, analysed_at, hinge_version, settings (JSON text)."""
        with self._sqlite_errors("read the sets"):
            return self._sets(athlete, exercise)

    def _sets(self, athlete: str | None, exercise: str | None) -> pd.DataFrame:
        where, params = self._where(athlete, exercise)
        q = f"""
            SELECT s.id, s.recorded_at, s.athlete, s.exercise, s.n_reps,
                   (SELECT count(*) FROM faults f WHERE f.set_id = s.id) AS faults,
                   s.file, s.content_hash, s.analysed_at, s.hinge_version, s.settings
            FROM sets s {where} ORDER BY s.recorded_at, s.id"""
        import pandas as pd  # only when listing: `hinge analyze` stores sets without it

        return pd.read_sql_query(q, self._con, params=params)

    def rep_table(self, *, athlete: str | None = None, exercise: str | None = None) -> pd.DataFrame:
        """Every rep of the matching sets as the batch table (hinge.sets.REP_TABLE_COLUMNS), sets oldest first."""
        with self._sqlite_errors("read the reps"):
            return self._rep_table(athlete, exercise)

    def _rep_table(self, athlete: str | None, exercise: str | None) -> pd.DataFrame:
        where, params = self._where(athlete, exercise)
        sets = self._con.execute(
            f"SELECT id, file, content_hash, athlete, exercise, recorded_at FROM sets s {where} "
            "ORDER BY s.recorded_at, s.id",
            params,
        ).fetchall()
        rows = []
        for set_id, file, h, ath, ex, rec in sets:
            rows += rep_rows(SetInfo(file, h, ex, rec, ath), self._reps(set_id))
        return rep_table(rows)

    def _reps(self, set_id: int) -> list[dict[str, Any]]:
        cols = ("rep", "start_s", "bottom_s", "top_s", "end_s", *METRICS, "gap")
        reps = {
            row[0]: {**dict(zip(("index", *cols[1:]), row, strict=True)), "faults": []}
            for row in self._con.execute(f"SELECT {', '.join(cols)} FROM reps WHERE set_id = ? ORDER BY rep", (set_id,))
        }
        for rep, kind, sev, value, limit in self._con.execute(
            "SELECT rep, kind, severity, value_deg, limit_deg FROM faults WHERE set_id = ? ORDER BY rowid", (set_id,)
        ):
            reps[rep]["faults"].append({"kind": kind, "severity": sev, "value_deg": value, "limit_deg": limit})
        for r in reps.values():
            r["gap"] = bool(r["gap"])
        return list(reps.values())

    @staticmethod
    def _where(athlete: str | None, exercise: str | None) -> tuple[str, list[str]]:
        conds, params = [], []
        if athlete is not None:
            conds.append("s.athlete = ?")
            params.append(athlete)
        if exercise is not None:
            conds.append("s.exercise = ?")
            params.append(exercise)
        return ("WHERE " + " AND ".join(conds)) if conds else "", params


def add_history_arguments(p, *, athlete: bool = False) -> None:
    """--db / --no-history (and --athlete) for every command that stores sets."""
    if athlete:
        p.add_argument("--athlete", default="", help="athlete's name or id, stored with the set")
    p.add_argument("--db", help=f"history database (default: {default_path()}, honouring XDG_DATA_HOME)")
    p.add_argument("--no-history", action="store_true", help="do not store the set(s) in the history database")


def utc_now() -> str:
    """Now, for analysed_at: the one wall-clock read of the commands that store sets (tests inject theirs)."""
    return iso_utc(dt.datetime.now(dt.timezone.utc))


def store(args, sets: list[AnalysedSet], *, analysed_at: str | None = None) -> None:
    """Store analysed sets in the history database chosen by the command's --db / --no-history."""
    if getattr(args, "no_history", False) or not sets:
        return
    if not all(s.info.content_hash for s in sets):
        raise ValueError("a set analysed with identify=False has no content hash and cannot be stored")
    with History(args.db or default_path()) as db:
        db.save(sets, analysed_at=analysed_at or utc_now())


def store_recording(args, path: Path, settings: Settings, *, swap: bool = False) -> None:
    """Analyse a set just recorded and store it (swap: its sensors read the other way round, as the session
    ended up analysing them); a recording that cannot be analysed (too short, one sensor silent) is said on
    stderr and not stored."""
    if getattr(args, "no_history", False):
        return
    try:
        aset = analyse_file(path, settings, athlete=args.athlete, swap=swap)
    except (AnalysisError, InputError, UserError) as exc:
        print(f"hinge {args.command}: {path} not stored in the history: {exc}", file=sys.stderr)
        return
    store(args, [aset])
    print(f"stored in the history: {path} ({plural(aset.result['summary']['n_reps'], 'rep')})", file=sys.stderr)
