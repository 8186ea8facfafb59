"""The installable package carries every module and data file the commands need (not only in editable mode)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_all_commands_and_profiles(tmp_path):
    # build from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__",
                                                              "test-artifacts"))
    had_build = (ROOT / "build").exists()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
    )
    assert (ROOT / "build").exists() == had_build, "the build left build/ in the checkout"
    (wheel,) = tmp_path.glob("hinge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for cmd in (ROOT / "hinge" / "commands").glob("*.py"):
        assert f"hinge/commands/{cmd.name}" in names
    # the client's top-level folders install under the application's name, never as top-level packages
    for folder, pkg in (("analysis", "hinge/analysis"), ("sensing", "hinge/sensing"), ("hinge", "hinge")):
        for mod in (ROOT / folder).glob("*.py"):
            assert f"{pkg}/{mod.name}" in names
    for profile in (ROOT / "firmware_profiles").glob("*.toml"):
        assert f"hinge/firmware_profiles/{profile.name}" in names
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"hinge"}, top_level
    assert any(n.endswith("entry_points.txt") for n in names)
