"""`FrameRing`: the fixed-size, thread-safe ring of tracker frames that the views read."""

from __future__ import annotations

import threading

import numpy as np


class FrameRing:
    """Fixed-size ring of tracker frames (n, 4): t, pelvis_deg, trunk_deg, lumbar_deg. Thread-safe.

    Memory is fixed at `capacity` rows: a long session never grows it.
    """

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros((max(1, int(capacity)), 4))
        self._n = 0  # rows held
        self._head = 0  # next write position
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return len(self._buf)

    def __len__(self) -> int:
        return self._n

    def extend(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=float).reshape(-1, 4)
        cap = len(self._buf)
        if len(frames) >= cap:
            frames = frames[-cap:]
        k = len(frames)
        if k == 0:
            return
        with self._lock:
            first = min(k, cap - self._head)
            self._buf[self._head : self._head + first] = frames[:first]
            self._buf[: k - first] = frames[first:]
            self._head = (self._head + k) % cap
            self._n = min(cap, self._n + k)

    def clear(self) -> None:
        with self._lock:
            self._n = 0
            self._head = 0

    def newest_t(self) -> float | None:
        """Time of the newest frame (s), or None when empty."""
        with self._lock:
            return float(self._buf[(self._head - 1) % len(self._buf), 0]) if self._n else None

    def latest(self, last_s: float | None = None) -> np.ndarray:
        """A copy of the held frames in time order; with last_s only those within last_s of the newest
        (only those rows are copied: the window pulls its last 10 s 30 times a second)."""
        with self._lock:
            if self._n == 0:
                return np.zeros((0, 4))
            cap = len(self._buf)
            start = (self._head - self._n) % cap
            # the held rows, oldest first, are at most two slices of the buffer
            parts = [self._buf[start : start + self._n]] if start + self._n <= cap else [
                self._buf[start:], self._buf[: self._head]]
            if last_s is not None:
                t_min = float(parts[-1][-1, 0]) - last_s
                if len(parts) == 2 and parts[1][0, 0] <= t_min:
                    parts = parts[1:]
                first = parts[0]
                parts[0] = first[int(np.searchsorted(first[:, 0], t_min, side="left")) :]
            return np.concatenate(parts) if len(parts) == 2 else parts[0].copy()
