"""Batch `hinge analyze`: folders and patterns, a process pool, one line per failed file, the rep table;
the same table byte for byte from one process, the pool and a Dask LocalCluster of worker processes."""

from __future__ import annotations

import pandas as pd
import pytest

from hinge.cli import main
from hinge.sensing.csvio import write_csv
from hinge.sensing.simulator import SimConfig
from tests.conftest import simulated

REPS = {"a": 2, "b": 3, "c": 2, "d": 4}  # generator parameters: reps per set


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    (d / "sets").mkdir()
    for i, (name, reps) in enumerate(REPS.items()):
        cfg = SimConfig(exercise="swing", reps=reps, seed=20 + i, rates_hz={"sacrum": 100.0, "thoracic": 100.0},
                        faults={}, stand_s=3.5, tail_s=1.5)  # fmt: skip
        write_csv(d / "sets" / f"{name}.csv", simulated(cfg).series)
    (d / "sets" / "broken.csv").write_text("t,sensor\n1,2\n")
    return d


def _table(folder, out, *extra, capsys=None) -> tuple[int, str]:
    rc = main(["analyze", str(folder / "sets"), "--table", str(out), "--no-history", *extra])
    return rc, (capsys.readouterr().err if capsys else "")


def test_batch_goes_on_past_a_broken_file_and_tables_every_rep(folder, tmp_path, capsys):
    out = tmp_path / "sets.parquet"
    capsys.readouterr()
    rc, err = _table(folder, out, "--jobs", "2", capsys=capsys)
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "broken.csv" in lines[0] and lines[0].startswith("hinge analyze: error:")
    df = pd.read_parquet(out)
    assert len(df) == sum(REPS.values())
    for name, reps in REPS.items():
        got = df[df["file"].str.endswith(f"{name}.csv")]
        assert list(got["rep"]) == list(range(1, reps + 1)), name
    assert list(dict.fromkeys(df["file"])) == sorted(dict.fromkeys(df["file"]))  # input order


def test_one_process_pool_and_dask_give_the_same_table_byte_for_byte(folder, tmp_path):
    import dask
    from dask.distributed import LocalCluster

    outs = {k: tmp_path / f"{k}.parquet" for k in ("one", "pool", "dask")}
    assert _table(folder, outs["one"], "--jobs", "1")[0] == 1
    assert _table(folder, outs["pool"], "--jobs", "3")[0] == 1
    with (
        dask.config.set({"temporary-directory": str(tmp_path)}),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
    ):
        assert _table(folder, outs["dask"], "--dask", cluster.scheduler_address)[0] == 1
    data = {k: p.read_bytes() for k, p in outs.items()}
    assert data["one"] == data["pool"] == data["dask"]
    assert len(pd.read_parquet(outs["one"])) == sum(REPS.values())


def test_patterns_csv_table_history_and_bad_options(folder, tmp_path, capsys):
    out, db = tmp_path / "sets.csv", tmp_path / "h.sqlite"
    pattern = str(folder / "sets" / "[ab].csv")
    assert main(["analyze", pattern, "--table", str(out), "--db", str(db), "--athlete", "Di"]) == 0
    df = pd.read_csv(out)
    assert len(df) == REPS["a"] + REPS["b"] and set(df["athlete"]) == {"Di"}
    capsys.readouterr()
    assert main(["history", "--db", str(db), "--athlete", "Di"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 sets"
    for argv, word in (
        ([str(folder / "nothing-*.csv")], "nothing-*.csv"),
        ([pattern, "--table", str(tmp_path / "t.xlsx")], "--table"),
        ([pattern, "--jobs", "0"], "--jobs"),
        ([pattern, "--json"], "--json"),
    ):
        assert main(["analyze", *argv, "--no-history"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and word in err[0], err


@pytest.mark.parametrize("command", ["analyze", "report", "history"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: hinge " + command in capsys.readouterr().out
