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
