"""The one still-period detector: used for the gyro bias (fusion), the neutral posture (calibration) and
the live tracker alike.

A sample k is *still* when the window of `window_s` ending at k (causal: no future samples) has a small
spread: the summed variance of the three gyroscope axes below `gyr_std_rad_s`² and of the three
accelerometer axes below `acc_std_m_s2`². A spread, not a level: a constant gyro bias does not count
against stillness, postural sway of a standing or seated person does (a little). The mean angular
speed must stay below `gyr_mean_rad_s` too: a steady turn has no spread but is not still.

`StillDetector` is streaming and chunk-invariant: the running sums are carried from chunk to chunk with
strictly sequential accumulation (`np.cumsum`), so feeding a series in any chunks gives bit-identical
flags to one batch. A *still period* is a run of still flags; its samples run from the first window's
first sample to the last window's last sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StillSettings:
    """How stillness is recognised (generic, not tuned per recording).

    window_s: length of the causal window, s.
    gyr_std_rad_s: largest RMS deviation of the angular velocity from its window mean, rad/s.
    acc_std_m_s2: largest RMS deviation of the specific force from its window mean, m/s².
    gyr_mean_rad_s: largest mean angular speed (above any real gyro bias: a steady turn is not still), rad/s.
    min_duration_s: shortest still period (neutral posture, gyro bias), s.
    max_duration_s: a still period is cut here (its estimate is used from then on), s.
    min_pause_s: the fallback when no still period exists (e.g. a lockout pause), s.
    """

    window_s: float = 0.5
    gyr_std_rad_s: float = float(np.radians(5.0))
    acc_std_m_s2: float = 0.25
    gyr_mean_rad_s: float = float(np.radians(10.0))
    min_duration_s: float = 1.5
    max_duration_s: float = 10.0
    min_pause_s: float = 0.5

    def window(self, fs_hz: float) -> int:
        """Window length in samples at fs_hz."""
        return max(3, int(round(self.window_s * fs_hz)))


class StillDetector:
    """Causal still flags for one sensor, fed in chunks of any size.

    `feed(acc, gyr)` → (flags (n,) bool, motion (n,) rad/s): flag k is True when the window ending at sample
    k is still (small spread and a small mean angular speed); motion is the window's RMS gyro deviation
    (how much the sensor moves). The first w − 1 samples have no complete window: not still, motion from
    the samples so far.
    """

    def __init__(self, fs_hz: float, settings: StillSettings = StillSettings()):
        self.settings = settings
        self.w = settings.window(fs_hz)
        self._origin: np.ndarray | None = None  # first sample: centres the sums (numerical stability)
        # per channel (3 gyro, 3 acc) and power (x, x²): the last w running sums, starting with Σ = 0
        self._tail = [np.zeros(1) for _ in range(12)]
        self._n = 0

    def feed(self, acc: np.ndarray, gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(acc)
        if n == 0:
            return np.zeros(0, dtype=bool), np.zeros(0)
        acc, gyr = np.asarray(acc, dtype=float), np.asarray(gyr, dtype=float)
        if self._origin is None:
            self._origin = np.concatenate((gyr[0], acc[0]))
        w = self.w
        count = np.minimum(np.arange(self._n + 1, self._n + n + 1, dtype=float), w)  # window length (partial at start)
        # Work arrays made once per call and reused by every channel (fresh big arrays cost more than
        # the arithmetic on this hardware): the running sums with the carried tail in front, the
        # windowed sums of x and x², the centred column.
        lead = max(0, w - len(self._tail[0]) + 1) + len(self._tail[0])  # the same for every channel
        hist = np.empty(lead + n)
        run = hist[lead:]
        s1, s2, xj = np.empty(n), np.empty(n), np.empty(n)
        var_g, var_a, speed2 = np.empty(n), np.empty(n), np.empty(n)
        for j in range(6):  # one channel at a time: strided (n, 12) arrays are slow here
            np.subtract(gyr[:, j] if j < 3 else acc[:, j - 3], self._origin[j], out=xj)
            for k, out in ((0, s1), (1, s2)):
                tail = self._tail[2 * j + k]
                hist[: lead - len(tail)] = 0.0
                hist[lead - len(tail) : lead] = tail
                if k == 0:
                    run[:] = xj
                else:
                    np.multiply(xj, xj, out=run)
                run[0] += tail[-1]
                np.cumsum(run, out=run)  # sequential: continues the carried sum exactly
                np.subtract(run, hist[lead - w : lead - w + n], out=out)
                self._tail[2 * j + k] = hist[-(w + 1) :].copy()
            s1 /= count  # the window mean
            s2 /= count
            s2 -= s1 * s1
            var = var_g if j < 3 else var_a
            if j in (0, 3):
                np.maximum(s2, 0.0, out=var)
            else:
                var += np.maximum(s2, 0.0, out=s2)
            if j < 3:
                s1 += self._origin[j]  # the mean angular velocity, axis j
                if j == 0:
                    np.multiply(s1, s1, out=speed2)
                else:
                    speed2 += s1 * s1
        st = self.settings
        flags = count >= w
        flags &= var_g < st.gyr_std_rad_s**2
        flags &= var_a < st.acc_std_m_s2**2
        flags &= np.sqrt(speed2, out=speed2) < st.gyr_mean_rad_s
        self._n += n
        return flags, np.sqrt(var_g, out=var_g)


def still_flags(acc: np.ndarray, gyr: np.ndarray, fs_hz: float, settings: StillSettings = StillSettings()):
    """`StillDetector` over a whole series: (flags (n,) bool, motion (n,) rad/s)."""
    return StillDetector(fs_hz, settings).feed(np.asarray(acc, float), np.asarray(gyr, float))


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops (exclusive) of the runs of True in a boolean array."""
    m = np.concatenate(([False], np.asarray(mask, bool), [False])).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


class StillPeriodFinder:
    """The first still period of a stream of still flags (causal, chunk-invariant).

    A period is a run of still flags; its samples start w − 1 before the first flag. It is *known* when
    the run ends (a non-still flag) after lasting `min_duration_s`, or when it reaches `max_duration_s`
    (then cut there). `feed(flags)` returns the chunk-local index of the first sample after the period
    once it is known, else None; `period` is then (start, stop) in absolute sample indices.
    """

    def __init__(self, fs_hz: float, settings: StillSettings = StillSettings()):
        self.w = settings.window(fs_hz)
        self.n_min = max(self.w, int(round(settings.min_duration_s * fs_hz)))
        self.n_max = max(self.n_min, int(round(settings.max_duration_s * fs_hz)))
        self.period: tuple[int, int] | None = None
        self._seen = 0
        self._run_start: int | None = None  # absolute index of the current run's first flag

    def feed(self, flags: np.ndarray) -> int | None:
        if self.period is not None:
            return None
        base = self._seen
        self._seen += len(flags)
        i = 0
        n = len(flags)
        while i < n:
            if self._run_start is None:
                hits = np.flatnonzero(flags[i:])
                if len(hits) == 0:
                    return None
                i += int(hits[0])
                self._run_start = base + i
            start = self._run_start - self.w + 1  # first sample of the first still window
            # the period reaches max length at absolute sample start + n_max - 1
            cap = start + self.n_max - 1 - base
            breaks = np.flatnonzero(~flags[i:])
            end = i + int(breaks[0]) if len(breaks) else n  # chunk-local index of the first non-still flag
            if cap < end:
                self.period = (start, start + self.n_max)
                return cap + 1
            if end < n:
                if base + end - start >= self.n_min:
                    self.period = (start, base + end)
                    return end
                self._run_start = None
            i = end
        return None

    def pending(self) -> tuple[int, int] | None:
        """The still run in progress at the end of the data, (start, stop) sample indices, if it already
        lasts `min_duration_s` (a series that ends still)."""
        if self.period is not None or self._run_start is None:
            return None
        start = self._run_start - self.w + 1
        return (start, self._seen) if self._seen - start >= self.n_min else None
