"""History database: migrations, one row per set across re-analyses, two real processes writing at once,
corrupt / newer / foreign files refused untouched, the user data folder, trends and export."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hinge.cli import main
from hinge.history import SCHEMA_VERSION, History, default_path
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import SimConfig
from hinge.sets import METRICS, AnalysedSet, SetInfo
from hinge.trend import TREND_COLOUR, per_set
from tests.conftest import TEST_NOW, simulated

ANALYSED_AT = "2030-01-02T03:04:05Z"  # injected: no clock is read by the database


def synthetic_set(key: str, date: str, trunk_top: list[float], athlete: str = "Ana", exercise: str = "swing"):
    """An analysed set whose every value is a parameter here (ground truth for what the database returns)."""
    reps = []
    for i, tt in enumerate(trunk_top, start=1):
        faults = [{"kind": "trunk_behind_vertical", "severity": "fault", "value_deg": tt, "limit_deg": -10.0}]
        reps.append(
            {"index": i, "start_s": 4.0 * i, "bottom_s": 4.0 * i + 1, "top_s": 4.0 * i + 2, "end_s": 4.0 * i + 3,
             "depth_deg": 60.0 + i, "trunk_top_deg": tt, "pelvis_top_deg": -1.0, "lumbar_top_deg": tt + 1.0,
             "lumbar_flexion_max_deg": 5.0 + i, "gap": False, "faults": faults if tt <= -10 else []}
        )  # fmt: skip
    result = {
        "input": f"{key}.csv", "exercise": exercise, "reps": reps, "warnings": [f"warning of {key}"],
        "calibration": {"neutral_start_s": 0.0, "neutral_end_s": 3.0, "quality": "ok"},
        "sensors": {"sacrum": {"rate_hz": 100.0, "lost_samples": 0}, "thoracic": {"rate_hz": 100.0, "lost_samples": 1}},
        "summary": {"n_reps": len(reps), "faults": {}},
    }  # fmt: skip
    settings = {"limits": {"trunk_behind_vertical": [-5.0, -10.0]}, "offline": True, "hinge_version": "t"}
    return AnalysedSet(SetInfo(f"{key}.csv", key, exercise, date, athlete), result, settings)


def test_default_path_honours_xdg_data_home(tmp_path):
    assert default_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "hinge" / "history.sqlite"
    assert default_path({"HOME": str(tmp_path)}) == tmp_path / ".local" / "share" / "hinge" / "history.sqlite"


def test_migrates_an_older_database_keeping_its_sets(tmp_path):
    path = tmp_path / "h.sqlite"
    with History(path, migrate_to=1) as db:
        assert db.version() == 1
        db.save([synthetic_set("a", "2026-01-01T00:00:00Z", [-12.0, -3.0])], analysed_at=ANALYSED_AT)
    with History(path) as db:
        assert db.version() == SCHEMA_VERSION == 2
        sets = db.sets()
        assert list(sets["content_hash"]) == ["a"] and list(sets["analysed_at"]) == [ANALYSED_AT]
        names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "sets_by_athlete" in names


def test_rows_read_back_as_written_and_filtered(tmp_path):
    with History(tmp_path / "h.sqlite") as db:
        db.save(
            [synthetic_set("a", "2026-01-02T00:00:00Z", [-12.0, -3.0]),
             synthetic_set("b", "2026-01-01T00:00:00Z", [-1.0], athlete="Bo", exercise="deadlift")],
            analysed_at=ANALYSED_AT,
        )  # fmt: skip
        sets = db.sets()
        assert list(sets["content_hash"]) == ["b", "a"]  # by date
        assert list(sets["faults"]) == [0, 1] and list(sets["n_reps"]) == [1, 2]
        assert list(db.sets(athlete="Bo")["content_hash"]) == ["b"]
        assert list(db.sets(exercise="swing")["content_hash"]) == ["a"]
        reps = db.rep_table(athlete="Ana")
        assert list(reps["trunk_top_deg"]) == [-12.0, -3.0]
        assert list(reps["worst"]) == ["fault", "ok"] and list(reps["depth_deg"]) == [61.0, 62.0]


@pytest.fixture(scope="module")
def set_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("hist") / "set.csv"
    cfg = SimConfig(exercise="deadlift", reps=3, seed=5, faults={"lumbar_rounding": 20.0}, fault_reps=(2,),
                    rates_hz={"sacrum": 100.0, "thoracic": 100.0})  # fmt: skip
    write_csv(path, simulated(cfg).series)
    return path


def test_reanalysis_updates_the_set_instead_of_adding_one(set_csv, tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    assert main(["analyze", str(set_csv), "--db", str(db), "--date", "2026-11-01"]) == 0
    # rep 2 was generated with 20° of rounding: a caution at the default 15/25°, a fault at 12/18°
    assert (
        main(["analyze", str(set_csv), "--db", str(db), "--date", "2026-11-01", "--limit", "lumbar_rounding=12,18"])
        == 0
    )
    moved = tmp_path / "renamed.csv"
    moved.write_bytes(set_csv.read_bytes())  # same content, another name: the same set
    assert main(["report", str(moved), "--db", str(db), "--png", str(tmp_path / "r.png")]) == 0
    capsys.readouterr()
    with History(db) as h:
        sets = h.sets()
        assert len(sets) == 1 and sets["analysed_at"][0] == TEST_NOW
        assert json.loads(sets["settings"][0])["limits"]["lumbar_rounding"] == [15.0, 25.0]  # the report's
        assert sets["recorded_at"][0] == "2026-11-01T00:00:00Z"  # the report gave none (a CSV carries none): kept
        assert len(h.rep_table()) == 3
    assert main(["analyze", str(set_csv), "--db", str(db), "--limit", "lumbar_rounding=12,18"]) == 0
    with History(db) as h:
        reps = h.rep_table()
    assert list(reps["rep"]) == [1, 2, 3]
    assert reps["faults"][1] == "lumbar_rounding:fault" and reps["file"][0] == str(set_csv)
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "1 set"


def test_default_database_is_in_xdg_data_home(set_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["analyze", str(set_csv), "--athlete", "Cy"]) == 0
    assert (tmp_path / "data" / "hinge" / "history.sqlite").is_file()
    capsys.readouterr()
    assert main(["history", "--athlete", "Cy"]) == 0
    assert "Cy" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["corrupt", "newer", "foreign"])
def test_unusable_database_is_one_line_and_left_untouched(kind, set_csv, tmp_path, capsys):
    path = tmp_path / "h.sqlite"
    if kind == "corrupt":
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    else:
        con = sqlite3.connect(path)
        if kind == "newer":
            con.close()
            with History(path):
                pass
            con = sqlite3.connect(path)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        else:
            con.execute("CREATE TABLE notes (x TEXT)")
        con.commit()
        con.close()
    before = path.read_bytes()
    for argv in (["history", "--db", str(path)], ["analyze", str(set_csv), "--db", str(path)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0], err
        if kind == "newer":
            assert "newer" in err[0]
    assert path.read_bytes() == before


def test_database_locked_past_the_timeout_is_one_line(set_csv, tmp_path, monkeypatch, capsys):
    import hinge.history

    path = tmp_path / "h.sqlite"
    with History(path):
        pass
    monkeypatch.setattr(hinge.history, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer that does not let go
    try:
        capsys.readouterr()
        assert main(["analyze", str(set_csv), "--db", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and "locked" in err[0], err
    finally:
        holder.execute("ROLLBACK")
        holder.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from hinge.history import History
    from tests.test_history import synthetic_set
    db_path, who, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    for i in range(n):
        with History(db_path) as db:  # a fresh connection per set, like separate commands
            db.save([synthetic_set(f"{{who}}-{{i}}", f"2026-01-01T00:00:{{i % 60:02d}}Z", [-12.0, -float(i)])],
                    analysed_at="2030-01-01T00:00:00Z")
            db.save([synthetic_set("shared", "2026-01-01T00:00:00Z", [-1.0, -2.0, -3.0])],
                    analysed_at="2030-01-01T00:00:00Z")
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    import tests

    root = str(__import__("pathlib").Path(tests.__file__).resolve().parent.parent)
    db, go, n = tmp_path / "h.sqlite", tmp_path / "go", 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER.format(root=root), str(db), who, str(n), str(go)],
                         stderr=subprocess.PIPE, text=True)
        for who in ("p", "q")
    ]  # fmt: skip
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with History(db) as h:
        sets = h.sets()
        reps = h.rep_table()
    expected = {f"{w}-{i}" for w in "pq" for i in range(n)} | {"shared"}
    assert set(sets["content_hash"]) == expected and len(sets) == len(expected)
    assert len(reps) == 2 * 2 * n + 3
    for w in "pq":
        got = reps[reps["content_hash"].str.startswith(f"{w}-")].groupby("content_hash")["trunk_top_deg"].last()
        assert {k: v for k, v in got.items()} == {f"{w}-{i}": -float(i) for i in range(n)}


@pytest.fixture()
def history_db(tmp_path):
    """Four dated sets, stored out of date order; trunk top values are the parameters."""
    values = {
        "2026-03-01T10:00:00Z": [-2.0, -4.0, -9.0],
        "2026-01-01T10:00:00Z": [-12.0, -11.0, -6.0, -13.0],
        "2026-02-01T10:00:00Z": [-7.0, -8.0],
        "2026-04-01T10:00:00Z": [1.0, 0.0, -1.0],
    }
    db = tmp_path / "h.sqlite"
    with History(db) as h:
        h.save([synthetic_set(f"s{d[5:7]}", d, v) for d, v in values.items()], analysed_at=ANALYSED_AT)
    return db, values


def test_trend_per_set_median_and_range(history_db):
    db, values = history_db
    with History(db) as h:
        stats = per_set(h.rep_table(), "trunk_top")
    dates = sorted(values)
    assert [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in stats["date"]] == dates
    assert np.allclose(stats["median"], [np.median(values[d]) for d in dates])
    assert np.allclose(stats["lo"], [min(values[d]) for d in dates])
    assert np.allclose(stats["hi"], [max(values[d]) for d in dates])
    with History(db) as h:
        counts = per_set(h.rep_table(), "trunk_behind_vertical")
    assert list(counts["median"]) == [sum(v <= -10 for v in values[d]) for d in dates]


def test_trend_pictures_and_export(history_db, tmp_path, capsys):
    db, values = history_db
    png, page = tmp_path / "t.png", tmp_path / "t.html"
    assert main(["history", "--db", str(db), "--trend", "trunk_top", "--out", str(png)]) == 0
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    rgb = np.array([int(TREND_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(img - rgb).max(axis=2) <= 10).sum() > 300
    assert main(["history", "--db", str(db), "--trend", "faults", "--out", str(page)]) == 0
    text = page.read_text()
    assert "<svg" in text and "<script" not in text and text.count("<tr>") == len(values) + 1
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"sets.{suffix}"
        assert main(["history", "--db", str(db), "--export", str(out)]) == 0
        df = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert len(df) == sum(len(v) for v in values.values())
        assert set(df.columns) >= {"athlete", "exercise", "recorded_at", "rep", *METRICS, "faults"}
        assert sorted(df["trunk_top_deg"]) == sorted(x for v in values.values() for x in v)
    capsys.readouterr()
    assert main(["history", "--db", str(db), "--trend", "nonsense"]) == 2
    assert main(["history", "--db", str(db), "--export", str(tmp_path / "x.xlsx")]) == 2
    assert main(["history", "--db", str(tmp_path / "none.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--trend" in err[0] and "--export" in err[1] and "none.sqlite" in err[2]


def test_recorded_set_goes_into_the_history(tmp_path, capsys):
    db, rec = tmp_path / "h.sqlite", tmp_path / "set.jsonl"
    argv = ["record", "--simulate", "--exercise", "swing", "--reps", "3", "--seed", "4", "--clean", "--out", str(rec)]
    assert main([*argv, "--db", str(db), "--athlete", "Eve"]) == 0
    with History(db) as h:
        sets = h.sets()
    assert len(sets) == 1 and sets["athlete"][0] == "Eve" and sets["exercise"][0] == "swing"
    assert sets["n_reps"][0] == 3 and sets["file"][0] == str(rec)
