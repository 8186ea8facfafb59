"""Shared test setup: no display (Qt offscreen), simulated sets cached per process."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sensing.simulator import SimConfig, simulate_set  # noqa: E402

_CACHE: dict[str, object] = {}


def simulated(cfg: SimConfig):
    """simulate_set with a per-process cache keyed on the config's repr (configs may hold dicts)."""
    key = repr(cfg)
    if key not in _CACHE:
        _CACHE[key] = simulate_set(cfg)
    return _CACHE[key]
