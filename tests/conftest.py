"""Shared test setup: no display (Qt offscreen), a temporary user data folder, simulated sets cached per process."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# commands store sets in the history database in the user's data folder: never the real one in tests
_DATA_HOME = tempfile.mkdtemp(prefix="hinge-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
atexit.register(shutil.rmtree, _DATA_HOME, ignore_errors=True)  # plain processes importing the tests

import pytest  # noqa: E402

from sensing.simulator import SimConfig, simulate_set  # noqa: E402

_CACHE: dict[str, object] = {}
TEST_NOW = "2030-01-01T00:00:00Z"
"""The clock of the commands that store sets (history's analysed_at): injected, never the wall clock."""


@pytest.fixture(autouse=True)
def _history_clock(monkeypatch):
    import hinge.history

    monkeypatch.setattr(hinge.history, "utc_now", lambda: TEST_NOW)


def pytest_unconfigure(config) -> None:
    """pytest-xdist workers may end without running atexit handlers."""
    shutil.rmtree(_DATA_HOME, ignore_errors=True)


def simulated(cfg: SimConfig):
    """simulate_set with a per-process cache keyed on the config's repr (configs may hold dicts)."""
    key = repr(cfg)
    if key not in _CACHE:
        _CACHE[key] = simulate_set(cfg)
    return _CACHE[key]
