"""The installable package carries every module and data file the commands need (not only in editable mode)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_all_commands_and_profiles(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hinge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for cmd in (ROOT / "hinge" / "commands").glob("*.py"):
        assert f"hinge/commands/{cmd.name}" in names
    for pkg in ("analysis", "sensing", "hinge"):
        for mod in (ROOT / pkg).glob("*.py"):
            assert f"{pkg}/{mod.name}" in names
    for profile in (ROOT / "firmware_profiles").glob("*.toml"):
        assert f"firmware_profiles/{profile.name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)
