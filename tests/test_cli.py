"""The command line as a whole: what building the parser imports, and options every command shares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hinge.cli import main

HEAVY = ("PySide6", "pyqtgraph", "bleak", "bumble", "hinge.window", "hinge.session", "hinge.sensing.replay",
         "hinge.sensing.ble", "hinge.sensing.emulated")


def test_hinge_analyze_imports_only_what_analysis_needs():
    """Building the parser for `hinge analyze` loads neither the live window nor the BLE stack (a fresh
    interpreter: this test process has imported everything already)."""
    code = ("import sys; sys.argv = ['hinge', 'analyze', 'set.csv']; from hinge.cli import build_parser; "
            "build_parser(); "
            f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command", [["simulate", "--out", "x.csv"], ["demo", "--terminal"],
                                     ["record", "--simulate", "--out", "x.jsonl"]])
def test_fault_option_is_checked_by_every_command(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--fault", "bogus=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bogus=3'" in err and "unknown kind" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_cli_asks_for_one_blas_thread_unless_the_user_set_it():
    """Set before numpy loads (a fresh interpreter), and a value from the user's environment wins."""
    import os

    code = "import hinge.cli, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
