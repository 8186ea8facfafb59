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

from hinge.sensing.profiles import Samples

log = logging.getLogger(__name__)

_SCREEN_LOOP_BELOW = 8  # packets per call under which `_screen` checks packet by packet

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
    jump_tol_s: how far a packet may run ahead of the host clock, or back behind the last kept packet,
        before it is corrupt rather than late or reordered (see `update_packets`).
    reanchor_s: host seconds of packets that agree with each other but not with the past after which
        the device clock is taken to have restarted.
    """

    def __init__(self, rate_hz: float, has_device_time: bool, *, window_s: float = 60.0,
                 block_s: float = 0.5, min_span_s: float = 4.0, max_drift_ppm: float | None = None,
                 slew: float = 0.05, gap_threshold_s: float = 0.5, jump_tol_s: float = 1.0,
                 reanchor_s: float = 1.0) -> None:
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
        self.jump_tol_s = float(jump_tol_s)
        self.reanchor_s = float(reanchor_s)
        # inspectable state
        self.n_samples = 0
        self.n_packets = 0
        self.lost_samples = 0
        self.gaps: list[Gap] = []
        self.resets = 0
        self.corrupt_packets = 0  # dropped: timestamp or counter implausibly far ahead or back
        self.out_of_order_packets = 0  # dropped: not after the last kept packet (duplicate, reordered)
        self.dropped_samples = 0  # samples of the dropped packets
        self.kept_mask = np.zeros(0, dtype=bool)  # of the last call's samples, those that were timed
        self._ref_u: np.ndarray | None = None  # last kept packet's device coordinates (see `_screen`)
        self._qmin: np.ndarray | None = None
        self._cand: tuple | None = None  # run of packets that disagree with the past
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
        `t_host_arrival` (host seconds), and the gaps found before or inside it: `update_packets` with
        one packet. Samples of a dropped packet (see `update_packets`) get no time: the result is then
        shorter than `samples`; `kept_mask` tells which were kept."""
        return self.update_packets((t_host_arrival,), samples, np.zeros(len(samples), dtype=np.int64))

    def update_many(self, t_host_arrival: Sequence[float], packets: Sequence[Samples]
                    ) -> tuple[np.ndarray, list[Gap]]:
        """`update` over several notifications; returns the concatenated times and gaps."""
        if not packets:
            return np.zeros(0), []
        counts = np.array([len(s) for s in packets], dtype=np.int64)
        return self.update_packets(t_host_arrival, Samples.concat(packets), np.repeat(np.arange(len(packets)), counts))

    def update_packets(self, t_host_arrival: Sequence[float] | np.ndarray, samples: Samples,
                       packet_index: np.ndarray) -> tuple[np.ndarray, list[Gap]]:
        """Time P notifications at once, vectorised.

        t_host_arrival: (P,) host arrival seconds of each notification, in arrival order.
        samples: all their samples, concatenated (n total). packet_index: (n,) non-decreasing index into
        t_host_arrival of the notification each sample came from (notifications without samples are
        simply absent, as `Decoder.feed_many` returns them).
        Returns the host times of the kept samples (strictly increasing, also across calls) and the gaps.
        The result does not depend on how the packets are split into calls.

        Packets are screened first (`_screen`, the one place where samples are dropped): a packet whose
        device clock or counter does not move forward is out of order (or a duplicate); one that moves
        back by more than `jump_tol_s`, or ahead of what the host clock allows, is corrupt. Both are
        dropped and counted (`out_of_order_packets`, `corrupt_packets`, `dropped_samples`); `kept_mask`
        marks the samples of the last call that were timed. A device clock that really restarted (its
        packets agree with each other but not with the past for `reanchor_s` of host time) restarts the
        fit (`resets`); host times stay increasing across it.
        """
        y_all = np.asarray(t_host_arrival, dtype=float)
        self.n_packets += len(y_all)
        n = len(samples)
        if n == 0:
            self.kept_mask = np.zeros(0, dtype=bool)
            return np.zeros(0), []
        pidx = np.asarray(packet_index, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, pidx[1:] != pidx[:-1]])
        counts = np.diff(np.r_[starts, n])
        y = y_all[pidx[starts]]
        keep, anchor = self._screen(samples, starts, counts, y)
        if keep is None:
            self.kept_mask = np.ones(n, dtype=bool)
        else:
            mask = np.repeat(keep, counts)
            self.kept_mask = mask
            self.dropped_samples += int(n - mask.sum())
            if not mask.any():
                return np.zeros(0), []
            samples = _take(samples, mask)
            counts, y, anchor = counts[keep], y[keep], anchor[keep]
            starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
            n = len(samples)
        if samples.seq is not None:
            u, gap_at, gap_n = self._coordinate_seq(samples, starts, anchor)
        elif samples.device_time_s is not None:
            u, gap_at, gap_n = self._coordinate_time(samples, starts, counts, anchor)
        else:
            u = (self._k + np.arange(n)) * (1.0 / self.rate_hz)
            gap_at, gap_n = np.zeros(0, np.int64), np.zeros(0, np.int64)
            self._k += n
        first_last_t = self._last_t
        t, u, more_at, more_n = self._envelope_emit(u, starts, counts, y, anchor, samples.seq is None
                                                    and samples.device_time_s is None)
        if len(more_at):
            gap_at, gap_n = np.r_[gap_at, more_at].astype(np.int64), np.r_[gap_n, more_n].astype(np.int64)
            order = np.argsort(gap_at, kind="stable")
            gap_at, gap_n = gap_at[order], gap_n[order]
        gaps: list[Gap] = []
        for i, k in zip(gap_at.tolist(), gap_n.tolist(), strict=True):
            before = float(t[i - 1]) if i > 0 else first_last_t
            gaps.append((before if before is not None else float(t[i]), float(t[i]), int(k)))
        self.lost_samples += int(gap_n.sum())
        self.gaps.extend(gaps)
        self.n_samples += n
        return t, gaps

    # -- screening: the one place where packets are dropped --------------------------------------------------
    def _screen(self, s: Samples, starts: np.ndarray, counts: np.ndarray, y: np.ndarray):
        """Which packets to time: keep (m,) bool or None (all kept), and anchor (m,) bool: the device clock
        restarted before this packet (restart the fit there).

        Each device coordinate the firmware sends (timestamp, counter) is checked on its own. A packet is
        out of order when its first sample is not after the last kept one (within `jump_tol_s`: a
        duplicate or a reordering), corrupt when it is further back, when its samples do not increase, or
        when it is ahead of the host clock: q = t_host - (1 - drift)·u never falls by more than
        `jump_tol_s` below its minimum over the kept packets (a sample cannot arrive before it was taken;
        the drift term covers the device clock running fast: `max_drift_ppm` for a timestamp, 5 % for a
        counter over the configured rate). A real gap moves u and t_host alike and
        passes. The common case (nothing to drop) is one vectorised pass; a Python loop takes over from
        the first suspicious packet only."""
        m = len(starts)
        anchor = np.zeros(m, dtype=bool)
        coords = [c for c in (s.device_time_s, None if s.seq is None else s.seq * (1.0 / self.rate_hz))
                  if c is not None]
        if not coords:  # counterless: nothing to check against
            return None, anchor
        ends = starts + counts - 1
        c_all = np.stack([np.asarray(c, dtype=float) for c in coords])  # (C, n)
        uf, ul = c_all[:, starts], c_all[:, ends]
        # a counter / configured rate runs off by the sensor's rate error (percent), a timestamp by its drift
        drift = np.array([self.max_drift] * (s.device_time_s is not None) + [0.05] * (s.seq is not None))
        q = y - (1.0 - drift[:, None]) * ul  # (C, m)
        inner = np.diff(c_all, axis=1) <= 0
        inner[:, starts[1:] - 1] = False  # steps between packets are checked below
        inner_bad = np.logical_or.reduceat(np.concatenate([inner, np.zeros((len(coords), 1), bool)], axis=1),
                                           starts, axis=1).any(axis=0)
        tol = self.jump_tol_s
        ref_u, qmin = self._ref_u, self._qmin
        if ref_u is not None and len(ref_u) != len(coords):
            ref_u = qmin = None
        if m <= _SCREEN_LOOP_BELOW:  # a live round: the per-packet loop is cheaper than the vector pass
            return self._screen_loop(0, m, uf, ul, q, inner_bad, y, ref_u, qmin, anchor)
        prev_u = ul[:, :-1] if ref_u is None else np.concatenate([ref_u[:, None], ul[:, :-1]], axis=1)
        back = np.zeros((len(coords), m), dtype=bool)
        back[:, (0 if ref_u is not None else 1):] = uf[:, (0 if ref_u is not None else 1):] <= prev_u
        qrun = np.minimum.accumulate(q, axis=1)
        q_before = np.full_like(q, np.inf)
        q_before[:, 1:] = qrun[:, :-1]
        if qmin is not None:
            q_before = np.minimum(q_before, qmin[:, None])
        ahead = q < q_before - tol
        flag = inner_bad | back.any(axis=0) | ahead.any(axis=0)
        bad = np.flatnonzero(flag)
        if not len(bad):
            self._ref_u, self._qmin = ul[:, -1].copy(), qrun[:, -1] if qmin is None else np.minimum(qmin, qrun[:, -1])
            self._cand = None  # a kept packet ends any run of disagreeing ones
            return None, anchor
        j0 = int(bad[0])
        if j0 > 0:  # everything before the first suspicious packet is kept
            ref_u = ul[:, j0 - 1].copy()
            qmin = qrun[:, j0 - 1] if qmin is None else np.minimum(qmin, qrun[:, j0 - 1])
        return self._screen_loop(j0, m, uf, ul, q, inner_bad, y, ref_u, qmin, anchor)

    def _screen_loop(self, j0: int, m: int, uf: np.ndarray, ul: np.ndarray, q: np.ndarray, inner_bad: np.ndarray,
                     y: np.ndarray, ref_u: np.ndarray | None, qmin: np.ndarray | None, anchor: np.ndarray):
        """`_screen` packet by packet from packet j0 on (those before it are kept); (keep, anchor)."""
        keep = np.ones(m, dtype=bool)
        cand = self._cand
        for j in range(j0, m):
            verdict = self._verdict(inner_bad[j], uf[:, j], ul[:, j], q[:, j], ref_u, qmin)
            if verdict == "ok":
                ref_u = ul[:, j].copy()
                qmin = q[:, j].copy() if qmin is None else np.minimum(qmin, q[:, j])
                cand = None
                continue
            keep[j] = False
            if verdict == "out of order":
                self.out_of_order_packets += 1
                continue
            self.corrupt_packets += 1
            # a run of packets that agree with each other but not with the past: the device clock restarted
            if cand is not None and self._verdict(inner_bad[j], uf[:, j], ul[:, j], q[:, j], cand[0], cand[1]) == "ok":
                cand = (ul[:, j].copy(), np.minimum(cand[1], q[:, j]), cand[2], cand[3] + 1)
            else:
                cand = (ul[:, j].copy(), q[:, j].copy(), float(y[j]), 1)
            if cand[3] >= 3 and y[j] - cand[2] >= self.reanchor_s and not inner_bad[j]:
                log.warning("timebase: the device clock restarted (%d packets disagree with the past); "
                            "restarting the clock fit", cand[3])
                self.corrupt_packets -= 1
                keep[j] = anchor[j] = True
                ref_u, qmin, cand = cand[0], cand[1], None
        self._ref_u, self._qmin, self._cand = ref_u, qmin, cand
        return (None if keep.all() else keep), anchor

    def _verdict(self, inner_bad: bool, uf: np.ndarray, ul: np.ndarray, q: np.ndarray,
                 ref_u: np.ndarray | None, qmin: np.ndarray | None) -> str:
        """"ok", "out of order" or "corrupt" for one packet against the last kept one (see `_screen`)."""
        if inner_bad:
            return "corrupt"
        if ref_u is None:
            return "ok"
        if (uf <= ref_u).any():
            return "out of order" if (ref_u - uf).max() <= self.jump_tol_s else "corrupt"
        if (q < qmin - self.jump_tol_s).any():
            return "corrupt"
        return "ok"

    # -- batch: device coordinates --------------------------------------------------------------------------
    def _coordinate_seq(self, s: Samples, starts: np.ndarray, anchor: np.ndarray):
        """Counter firmware: u (n,) device seconds (the timestamp when there is one, else counter / rate),
        and the gaps: sample indices where samples are missing before, and how many (exact)."""
        period = 1.0 / self.rate_hz
        seq = np.asarray(s.seq, dtype=np.int64)
        u = np.asarray(s.device_time_s, dtype=float) if s.device_time_s is not None else seq * period
        prev = self._last_seq
        steps = np.diff(seq, prepend=seq[0] - 1 if prev is None else prev)
        steps[starts[anchor]] = 1  # after a restart the counter starts afresh
        gap_at = np.flatnonzero(steps > 1)
        self._last_seq = int(seq[-1])
        return u, gap_at, steps[gap_at] - 1

    def _coordinate_time(self, s: Samples, starts: np.ndarray, counts: np.ndarray, anchor: np.ndarray):
        """Timestamp-only firmware: u (n,) smoothed device seconds (sample index against timestamp, which
        removes the timestamps' rounding) and the gaps (steps over 1.5 sample periods)."""
        period = 1.0 / self.rate_hz
        raw = np.asarray(s.device_time_s, dtype=float)
        prev = self._last_raw_u
        u_before = np.r_[np.nan if prev is None else prev, raw[starts[1:] - 1]]
        reset = anchor
        steps = np.diff(raw, prepend=raw[0] - period if prev is None else prev) * self.rate_hz
        fresh = starts[reset | np.isnan(u_before)]  # first samples without a predecessor
        steps[fresh] = (raw[fresh] - (raw[fresh] - period)) * self.rate_hz
        gap_at = np.flatnonzero(steps > 1.5)
        gap_n = np.round(steps[gap_at]).astype(np.int64) - 1
        self._last_raw_u = float(raw[-1])
        k = self._k - 1 + np.cumsum(np.maximum(np.round(steps), 1).astype(np.int64))
        self._k = int(k[-1]) + 1
        return self._smooth_many(k, raw, starts, counts, reset), gap_at, gap_n

    def _smooth_many(self, k: np.ndarray, u: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                     reset: np.ndarray) -> np.ndarray:
        """Least-squares line of device time against sample index k (exponential forgetting with
        `window_s`, per packet), evaluated at k: the device's own sample period without its timestamp
        rounding; raw stamps for the first 2 s. The forgetting recursion of the running sums runs
        through `scipy.signal.lfilter`."""
        from scipy.signal import lfilter

        out = u.copy()
        m, n = len(starts), len(u)
        cuts = np.flatnonzero(reset).tolist()
        if self._ls is None and (not cuts or cuts[0] != 0):
            cuts = [0, *cuts]
        bounds = [0, *[c for c in cuts if c > 0], m]
        for j0, j1 in zip(bounds[:-1], bounds[1:], strict=True):
            a, b = int(starts[j0]), int(starts[j1]) if j1 < m else n
            if j0 in cuts:
                self._ls = [int(k[a]), float(u[a]), 0.0, 0.0, 0.0, 0.0, 0.0]
            k0, u0, *acc = self._ls
            loc = starts[j0:j1] - a
            x, z = (k[a:b] - k0).astype(float), u[a:b] - u0
            cnt = counts[j0:j1]
            inc = [cnt.astype(float), np.add.reduceat(x, loc), np.add.reduceat(z, loc),
                   np.add.reduceat(x * x, loc), np.add.reduceat(x * z, loc)]
            sums = [np.empty(j1 - j0) for _ in inc]
            runs = np.flatnonzero(np.diff(cnt)) + 1
            for r0, r1 in zip(np.r_[0, runs].tolist(), np.r_[runs, j1 - j0].tolist(), strict=True):
                forget = math.exp(-int(cnt[r0]) / (self.window_s * self.rate_hz))
                for q in range(5):
                    sums[q][r0:r1] = lfilter([1.0], [1.0, -forget], inc[q][r0:r1], zi=[acc[q] * forget])[0]
                    acc[q] = float(sums[q][r1 - 1])
            self._ls = [k0, u0, *acc]
            sw, sk, su, skk, sku = sums
            det = sw * skk - sk * sk
            with np.errstate(invalid="ignore", divide="ignore"):
                slope = (sw * sku - sk * su) / det
                icpt = (su - slope * sk) / sw
            raw_pk = (sw < 2 * self.rate_hz) | (det <= 0)
            per = np.repeat(np.arange(j1 - j0), cnt)
            fit = u0 + icpt[per] + slope[per] * x
            out[a:b] = np.where(raw_pk[per], u[a:b], fit)
        return out

    # -- batch: envelope and emission -----------------------------------------------------------------------
    def _envelope_emit(self, u: np.ndarray, starts: np.ndarray, counts: np.ndarray, y: np.ndarray,
                       reset: np.ndarray, counterless: bool):
        """Lower-envelope fit and emitted times over many packets, one envelope block per step.

        Inside a block the slope is fixed, the offset is the running minimum, and the emitted offset
        follows it under the slew limit (closed form). Counterless firmware: lost data is detected here
        (arrival lag), which shifts u. Returns t (n,), u (n,), and the gaps found here (sample index, n)."""
        n, m = len(u), len(starts)
        ends = starts + counts
        t = np.empty(n)
        ul = u[ends - 1]
        bid = np.floor(ul / self.block_s)
        gap_at: list[int] = []
        gap_n: list[int] = []
        period = 1.0 / self.rate_hz
        new_block = np.r_[True, bid[1:] != bid[:-1]] | reset
        nxt_bound = _next_true(new_block)  # for each packet, the next packet starting a block (or m)
        j = 0
        while j < m:
            if reset[j]:
                self._restart_clock_fit()
            if counterless and self._a is not None:
                lag = float(y[j] - (self._a + self._b * ul[j]))
                typical = float(np.median(self._recent_lag)) if self._recent_lag else 0.0
                if lag > self.gap_threshold_s + typical:
                    lost = max(1, int(round((lag - typical) / (self._b * period))))
                    a0 = int(starts[j])
                    u[a0:ends[j]] = u[a0:ends[j]] + lost * period
                    if j + 1 < m:
                        b0 = int(starts[j + 1])
                        u[b0:] = (self._k - (n - b0) + lost + np.arange(n - b0)) * period
                    self._k += lost
                    ul = u[ends - 1]
                    bid = np.floor(ul / self.block_s)
                    new_block[j + 1:] = bid[j + 1:] != bid[j:-1]
                    nxt_bound = _next_true(new_block)
                    gap_at.append(a0)
                    gap_n.append(lost)
                    self._restart_envelope()
                else:
                    self._recent_lag.append(lag)
            e = int(nxt_bound[j + 1]) if j + 1 < m else m
            # add_point for packet j: a new block closes the current one and refits
            cur = self._cur
            if cur is not None and bid[j] != cur[0]:
                self._blocks.append(cur)
                while self._blocks and self._blocks[0][1] < ul[j] - self.window_s:
                    self._blocks.popleft()
                cur = None
                self._refit()
            b = self._b
            vals = y[j:e] - b * ul[j:e]
            if cur is not None:
                run = np.minimum.accumulate(_prepend(cur[2] - b * cur[1], vals))[1:]
            else:
                run = np.minimum.accumulate(vals)
            a_pk = run if self._a is None else np.minimum(self._a, run)
            if counterless and e - j > 1:  # lag of packets j+1.. against the offset before them
                lags = y[j + 1:e] - (a_pk[:-1] + b * ul[j + 1:e])
                q = self._first_lag_gap(lags)
                if q is not None:
                    e = j + 1 + q
                    run, a_pk, vals = run[: e - j], a_pk[: e - j], vals[: e - j]
                    lags = lags[:q]
                self._recent_lag.extend(lags.tolist())
            # the block's minimum point (first occurrence, as the strict '<' update keeps it)
            i_min = int(np.argmin(vals))
            if cur is None or vals[i_min] < cur[2] - b * cur[1]:
                cur = (bid[j], float(ul[j + i_min]), float(y[j + i_min]))
            self._cur = cur
            self._a = float(a_pk[-1])
            self._emit_many(t, u, starts[j:e], ends[j:e], ul[j:e], a_pk)
            self._last_u = float(ul[e - 1])
            self._last_t = float(t[ends[e - 1] - 1])
            j = e
        return t, u, np.array(gap_at, dtype=np.int64), np.array(gap_n, dtype=np.int64)

    def _first_lag_gap(self, lags: np.ndarray) -> int | None:
        """Index of the first lag that counts as lost data (counterless), given the
        recent lags before it; None when there is none."""
        lo = min(0.0, float(lags.min()), min(self._recent_lag, default=0.0))
        for q in np.flatnonzero(lags > self.gap_threshold_s + lo).tolist():
            window = (list(self._recent_lag) + lags[:q].tolist())[-self._recent_lag.maxlen:]
            typical = float(np.median(window)) if window else 0.0
            if lags[q] > self.gap_threshold_s + typical:
                return q
        return None

    def _emit_many(self, t: np.ndarray, u: np.ndarray, s0: np.ndarray, s1: np.ndarray, ul: np.ndarray,
                   a_pk: np.ndarray) -> None:
        """`_emit` for consecutive packets of one block (slope fixed, offset `a_pk` non-increasing after
        the first): writes t[s0[p]:s1[p]]. The emitted offset o = t - b·u moves towards the target offset
        by at most slew·Δu per packet; with a non-increasing target that rate limiter has a closed form."""
        b, slew = self._b, self.slew
        m = len(a_pk)
        seg = slice(int(s0[0]), int(s1[-1]))
        per = np.repeat(np.arange(m), s1 - s0)
        if self._last_t is None or self._last_u is None:
            o_prev0, u_prev0 = None, None
        else:
            o_prev0, u_prev0 = self._last_t - b * self._last_u, self._last_u
        # emitted offset after each packet
        o = np.empty(m)
        if o_prev0 is None:
            o[0] = a_pk[0]
        else:
            s_first = slew * max(ul[0] - u_prev0, 0.0)
            o[0] = o_prev0 + min(max(a_pk[0] - o_prev0, -s_first), s_first)
        if m > 1:
            s = slew * np.maximum(np.diff(ul), 0.0)
            c = np.cumsum(s)  # c[i] belongs to packet i + 1
            rising = o[0] + c
            hit = np.flatnonzero(rising >= a_pk[1:])
            r = int(hit[0]) + 1 if len(hit) else m  # first packet where the offset reaches the target
            o[1:r] = rising[: r - 1]
            if r < m:
                o_before = o[r - 1]
                o[r] = o_before + min(max(a_pk[r] - o_before, -s[r - 1]), s[r - 1])
                if r + 1 < m:
                    cc = c[r - 1:] - c[r - 1]  # cumulative slew from packet r
                    o[r + 1:] = np.maximum.accumulate(_prepend(o[r], a_pk[r + 1:] + cc[1:]))[1:] - cc[1:]
        # per-sample times from the offset before each packet
        us = u[seg]
        if o_prev0 is None:
            o_before_pk = _prepend(np.nan, o[:-1])
            u_before_pk = _prepend(np.nan, ul[:-1])
        else:
            o_before_pk = _prepend(o_prev0, o[:-1])
            u_before_pk = _prepend(u_prev0, ul[:-1])
        ob, ub, ap = o_before_pk[per], u_before_pk[per], a_pk[per]
        lim = slew * np.maximum(us - ub, 0.0)
        out = b * us + ob + np.clip(ap - ob, -lim, lim)
        if o_prev0 is None:  # first packet after a (re)start: the target itself
            k0 = int(s1[0] - s0[0])
            out[:k0] = a_pk[0] + b * us[:k0]
        t[seg] = out

    def _restart_clock_fit(self) -> None:
        """The device clock restarted (see `_screen`): fit afresh from the next point (the device
        coordinates have restarted in `_coordinate_*` by then)."""
        self.resets += 1
        self._reset_fit(slope=1.0)
        self._last_u = None

    # -- lower-envelope fit -------------------------------------------------------------------------------
    def _reset_fit(self, slope: float) -> None:
        self._a: float | None = None
        self._b = slope
        self._blocks: deque[tuple[int, float, float]] = deque()  # (block id, u, y) minima, closed blocks
        self._cur: tuple[int, float, float] | None = None

    def _restart_envelope(self) -> None:
        self._reset_fit(slope=self._b)
        self._recent_lag.clear()

    def _refit(self) -> None:
        if not self._blocks:  # u jumped by more than the window (e.g. a bogus stamp): start from this block
            self._a = None
            return
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

def _take(s: Samples, mask: np.ndarray) -> Samples:
    """The samples where mask (n,) is True."""
    return Samples(s.acc[mask], s.gyr[mask], None if s.seq is None else s.seq[mask],
                   None if s.device_time_s is None else s.device_time_s[mask])


def _prepend(first: float, rest: np.ndarray) -> np.ndarray:
    """[first, *rest] as a float array (cheaper than np.r_ in the per-block loop)."""
    out = np.empty(len(rest) + 1)
    out[0] = first
    out[1:] = rest
    return out


def _next_true(flags: np.ndarray) -> np.ndarray:
    """For each i, the smallest j >= i with flags[j] (len(flags) if none): (len(flags),) int64."""
    m = len(flags)
    idx = np.where(flags, np.arange(m), m)
    return np.minimum.accumulate(idx[::-1])[::-1]


def _lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by x (monotone chain)."""
    x, y = x.tolist(), y.tolist()  # Python floats: the same arithmetic, several times faster to index
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
