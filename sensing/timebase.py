"""Map device sample clocks to host time: robust, slowly adapting, causal and chunk-friendly.

Each sensor gets one `Timebase`. Every notification is fed with its host arrival time (seconds,
`time.monotonic()` based) and its decoded `Samples`; the timebase returns the host time of every sample
and the gaps it found. Because every sensor is mapped onto the same host clock, two sensors are on one
common time base without any further step: run one Timebase per sensor and use the returned times.

Model. Each sample has a device coordinate u (seconds): the device timestamp when the firmware sends
one, else its counter / rate, else a running sample index / rate (counters missing). Host time is
t = a + b·u. Arrival times are late by a transport delay that is never negative and jumps by up to a
connection interval (7.5–50 ms) plus bursts, so the fit is a *lower envelope*: per `block_s` block of u
the earliest-arriving notification is kept, and over a sliding `window_s` window the line is the
supporting line of the lower convex hull of those minima at their mean u (the line below all points
that is closest to them on average, cf. Moon, Skelly & Towsley 1999). The slope stays within
`max_drift_ppm` of 1. The times therefore include the smallest transport latency seen — the same for
all sensors on one adapter, so it cancels between sensors.

Output times are continuous and increasing: when the fit moves, the emitted mapping converges to it at
no more than `slew` seconds per second of device time instead of jumping.

Gaps. With a counter, lost samples are exact (counter steps > 1, unwrapped by the decoder); with a
device timestamp only, they are steps larger than 1.5 sample periods; with neither (WitMotion,
Thingy:52), only outages whose arrival lag exceeds `gap_threshold_s` are seen and their size is an
estimate. Gaps are reported as (t_start, t_end, n_lost): the host times of the received samples on
either side and the number of samples missing between them. Nothing is interpolated.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sensing.profiles import Samples

log = logging.getLogger(__name__)

Gap = tuple[float, float, int]


@dataclass(frozen=True)
class Fit:
    """Current target mapping t_host = offset_s + slope · u (u in device seconds)."""

    offset_s: float
    slope: float

    @property
    def drift_ppm(self) -> float:
        """Device clock rate error relative to the host: + means the device clock runs slow."""
        return (self.slope - 1.0) * 1e6


class Timebase:
    """Per-sensor mapping from device sample clock to host time (see module docstring).

    rate_hz: the configured sample rate (spaces counter-based and counterless samples).
    has_device_time: the firmware sends a device timestamp (sets the default drift bound: 500 ppm for a
        crystal clock, else 5 % for a nominal rate that may be off).
    window_s: length of the sliding fit window in device seconds. block_s: one envelope point per block.
    min_span_s: below this span of data the slope is held at its prior (1, or the last fit).
    slew: largest correction of emitted times per second of device time (keeps times increasing).
    gap_threshold_s: counterless firmware only - arrival lag above the fitted line that counts as lost data.
    """

    def __init__(self, rate_hz: float, has_device_time: bool, *, window_s: float = 60.0,
                 block_s: float = 0.5, min_span_s: float = 4.0, max_drift_ppm: float | None = None,
                 slew: float = 0.05, gap_threshold_s: float = 0.5) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.has_device_time = bool(has_device_time)
        self.window_s = float(window_s)
        self.block_s = float(block_s)
        self.min_span_s = float(min_span_s)
        drift = (500.0 if has_device_time else 50_000.0) if max_drift_ppm is None else float(max_drift_ppm)
        self.max_drift = drift * 1e-6
        self.slew = float(slew)
        self.gap_threshold_s = float(gap_threshold_s)
        # inspectable state
        self.n_samples = 0
        self.n_packets = 0
        self.lost_samples = 0
        self.gaps: list[Gap] = []
        self.resets = 0
        self._reset_fit(slope=1.0)
        self._k = 0  # running index for counterless samples
        self._last_seq: int | None = None
        self._last_u: float | None = None
        self._last_raw_u: float | None = None
        self._last_t: float | None = None
        self._ls: list | None = None  # running least squares of device time against sample index
        self._recent_lag: deque[float] = deque(maxlen=64)

    # -- public -------------------------------------------------------------------------------------------
    @property
    def fit(self) -> Fit | None:
        """The target mapping (None before the first packet)."""
        return None if self._a is None else Fit(self._a, self._b)

    @property
    def converged(self) -> bool:
        """True once the slope is fitted from at least `min_span_s` of data."""
        return len(self._blocks) >= 3 and self._blocks[-1][1] - self._blocks[0][1] >= self.min_span_s

    def update(self, t_host_arrival: float, samples: Samples) -> tuple[np.ndarray, list[Gap]]:
        """Host times (n,) in seconds for the samples of one notification that arrived at
        `t_host_arrival` (host seconds), and the gaps found before or inside it."""
        n = len(samples)
        self.n_packets += 1
        if n == 0:
            return np.zeros(0), []
        y = float(t_host_arrival)
        u, gap_idx, gap_n = self._device_coordinate(samples, y)
        self._add_point(u[-1], y)
        t = self._emit(u)
        gaps: list[Gap] = []
        for i, k in zip(gap_idx, gap_n, strict=True):
            before = self._last_t if i == 0 else float(t[i - 1])
            gaps.append((before if before is not None else float(t[i]), float(t[i]), int(k)))
        self.lost_samples += int(sum(gap_n))
        self.gaps.extend(gaps)
        self.n_samples += n
        self._last_u = float(u[-1])
        self._last_t = float(t[-1])
        return t, gaps

    def update_many(self, t_host_arrival: Sequence[float], packets: Sequence[Samples]
                    ) -> tuple[np.ndarray, list[Gap]]:
        """`update` over several notifications; returns the concatenated times and gaps."""
        ts, gaps = [], []
        for y, s in zip(t_host_arrival, packets, strict=True):
            t, g = self.update(y, s)
            ts.append(t)
            gaps += g
        return (np.concatenate(ts) if ts else np.zeros(0)), gaps

    # -- device coordinate and gaps ------------------------------------------------------------------------
    def _device_coordinate(self, s: Samples, y: float) -> tuple[np.ndarray, list[int], list[int]]:
        """u (n,) device seconds; indices i where a gap precedes sample i, and samples lost there."""
        period = 1.0 / self.rate_hz
        gap_idx: list[int] = []
        gap_n: list[int] = []
        if s.seq is not None:
            seq = np.asarray(s.seq, dtype=np.int64)
            u = (np.asarray(s.device_time_s, dtype=float) if s.device_time_s is not None
                 else seq * period)
            prev = self._last_seq
            steps = np.diff(seq, prepend=seq[0] - 1 if prev is None else prev)
            if (steps <= 0).any() or (self._last_u is not None and u[0] < self._last_u - 1.0):
                self._device_reset("counter went backwards")
                steps = np.diff(seq, prepend=seq[0] - 1)
            for i in np.flatnonzero(steps > 1):
                gap_idx.append(int(i))
                gap_n.append(int(steps[i] - 1))
            self._last_seq = int(seq[-1])
            return u, gap_idx, gap_n
        if s.device_time_s is not None:
            u = np.asarray(s.device_time_s, dtype=float)
            prev = self._last_raw_u
            if prev is not None and u[0] < prev - 0.5 * period:
                self._device_reset("device clock went backwards")
                prev = None
            steps = np.diff(u, prepend=u[0] - period if prev is None else prev) * self.rate_hz
            for i in np.flatnonzero(steps > 1.5):
                gap_idx.append(int(i))
                gap_n.append(int(round(steps[i])) - 1)
            self._last_raw_u = float(u[-1])
            # sample index (gaps included) -> smoothed device time: removes timestamp quantisation (ms ticks)
            k = self._k + np.cumsum(np.maximum(np.round(steps), 1).astype(np.int64)) - 1
            if prev is None:
                k = k - k[0] + self._k
            self._k = int(k[-1]) + 1
            return self._smooth_device_time(k, u), gap_idx, gap_n
        # counterless: running index; an arrival lag far above the envelope means lost samples
        n = len(s)
        u = (self._k + np.arange(n)) * period
        if self._a is not None:
            lag = y - (self._a + self._b * u[-1])
            typical = float(np.median(self._recent_lag)) if self._recent_lag else 0.0
            if lag > self.gap_threshold_s + typical:
                lost = max(1, int(round((lag - typical) / (self._b * period))))
                gap_idx.append(0)
                gap_n.append(lost)
                self._k += lost
                u = u + lost * period
                self._restart_envelope()  # the index is an estimate now: re-anchor the offset
            else:
                self._recent_lag.append(lag)
        self._k += n
        return u, gap_idx, gap_n

    def _smooth_device_time(self, k: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Least-squares line of device time against sample index (exponential forgetting with
        `window_s`), evaluated at k: the device's own sample period without its timestamp rounding."""
        if self._ls is None:
            self._ls = [int(k[0]), float(u[0]), 0.0, 0.0, 0.0, 0.0, 0.0]  # k0, u0, sw, sk, su, skk, sku
        k0, u0, sw, sk, su, skk, sku = self._ls
        x, z = (k - k0).astype(float), u - u0
        forget = math.exp(-len(k) / (self.window_s * self.rate_hz))
        sw, sk, su = sw * forget + len(k), sk * forget + x.sum(), su * forget + z.sum()
        skk, sku = skk * forget + (x * x).sum(), sku * forget + (x * z).sum()
        self._ls = [k0, u0, sw, sk, su, skk, sku]
        det = sw * skk - sk * sk
        if sw < 2 * self.rate_hz or det <= 0:  # under 2 s of data: raw stamps
            return u
        slope = (sw * sku - sk * su) / det
        icpt = (su - slope * sk) / sw
        return u0 + icpt + slope * x

    def _device_reset(self, why: str) -> None:
        log.warning("timebase: %s; restarting the clock fit", why)
        self.resets += 1
        self._reset_fit(slope=1.0)
        self._last_u = None
        self._last_raw_u = None
        self._ls = None

    # -- lower-envelope fit -------------------------------------------------------------------------------
    def _reset_fit(self, slope: float) -> None:
        self._a: float | None = None
        self._b = slope
        self._blocks: deque[tuple[int, float, float]] = deque()  # (block id, u, y) minima, closed blocks
        self._cur: tuple[int, float, float] | None = None

    def _restart_envelope(self) -> None:
        self._reset_fit(slope=self._b)
        self._recent_lag.clear()

    def _add_point(self, u: float, y: float) -> None:
        bid = math.floor(u / self.block_s)
        cur = self._cur
        if cur is not None and bid != cur[0]:
            self._blocks.append(cur)
            while self._blocks and self._blocks[0][1] < u - self.window_s:
                self._blocks.popleft()
            cur = None
            self._refit()
        if cur is None or y - self._b * u < cur[2] - self._b * cur[1]:
            cur = (bid, u, y)
        self._cur = cur
        # the current block's minimum also bounds the line (no sample arrives before it was taken)
        a_cur = cur[2] - self._b * cur[1]
        self._a = a_cur if self._a is None else min(self._a, a_cur)

    def _refit(self) -> None:
        pts = np.array([(b[1], b[2]) for b in self._blocks])
        u, y = pts[:, 0], pts[:, 1]
        lo, hi = 1.0 - self.max_drift, 1.0 + self.max_drift
        b = self._b
        if len(u) >= 3 and u[-1] - u[0] >= self.min_span_s:
            hull = _lower_hull(u - u[0], y - y[0])
            um = u.mean() - u[0]
            hu, hy = (u - u[0])[hull], (y - y[0])[hull]
            j = min(int(np.searchsorted(hu, um, side="right")), len(hull) - 1)
            j = max(j, 1)
            b = (hy[j] - hy[j - 1]) / (hu[j] - hu[j - 1])
            b = min(max(b, lo), hi)
        self._b = b
        self._a = float(np.min(y - b * u))

    # -- emitted mapping -----------------------------------------------------------------------------------
    def _emit(self, u: np.ndarray) -> np.ndarray:
        target = self._a + self._b * u
        if self._last_t is None or self._last_u is None:
            return target
        err = (self._a + self._b * self._last_u) - self._last_t  # target minus emitted, at the last sample
        if err == 0.0:
            return target
        du = np.maximum(u - self._last_u, 0.0)
        remaining = np.maximum(abs(err) - self.slew * du, 0.0)
        return target - math.copysign(1.0, err) * remaining


def _lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by x (monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.array(hull)
