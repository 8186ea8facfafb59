"""Streaming rep segmentation and per-rep metrics: one implementation for live and offline.

Feed the trunk and pelvis sagittal angles (degrees, relative to the neutral posture) on a uniform grid,
and optionally the trunk's lean max(θt, |φ|) (forward or sideways, not backward) and its lateral angle φ,
in chunks of any size; completed reps come out with their metrics. Feeding a set in one chunk or many
gives identical reps (the state lives in the object; chunks are processed event by event with numpy reductions in
between, so offline use stays fast).

Definitions (docs/ARCHITECTURE.md §6, and analysis/reps.py for the settings):
- an *excursion* starts where the trunk's lean (θt when none is given) rises through `start_deg`
  and ends where it falls below `start_deg − hysteresis_deg`;
- a rep spans from its excursion's start to the next excursion's start (or the end of the data): a side
  bend is an excursion too, so it ends the previous rep's top phase;
- bottom = max θt in the excursion; top phase = samples after the bottom, before the rep's end, with
  θt < `top_phase_deg`; top = min θt there;
- depth = max θt in the rep; trunk/pelvis/lumbar top = min of θt, θp, θL in the top phase;
  lumbar_flexion_max = max θL in the rep;
- gates (checked when the rep ends): ROM = bottom − max(top, min θt before the excursion) ≥ min_rom_deg;
  plane: the largest |lateral angle| in the excursion ≤ max_side_ratio × bottom; time above the start
  angle within [min_duration_s, max_duration_s]. The pelvis range is measured (`pelvis_rom_deg`), not
  gated: a stoop bend is a rep;
- a rep closed by the end of the data less than `min_top_s` after its excursion ended has no top (cut off).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hinge.analysis.reps import RepSettings

INF = float("inf")


@dataclass
class RepRecord:
    """One rep (all angles in degrees, times in seconds on the grid's time base). `top_s` is None when
    the rep never came back up. `valid` is False for excursions the gates reject."""

    start_s: float
    bottom_s: float
    top_s: float | None
    end_s: float
    depth_deg: float
    trunk_top_deg: float
    pelvis_top_deg: float
    lumbar_top_deg: float
    lumbar_flexion_max_deg: float
    rom_deg: float
    pelvis_rom_deg: float
    side_max_deg: float
    duration_s: float
    valid: bool
    pelvis_max_deg: float = float("nan")  # max θp in the excursion (the placement check compares it with the depth)


@dataclass
class _Excursion:
    start_s: float
    before_min_t: float  # min θt from the previous excursion's end to this start
    pelvis_min_before: float  # min θp from the previous excursion's end to this start
    bottom_s: float = 0.0
    bottom_t: float = -INF
    pelvis_max: float = -INF
    lumbar_max: float = -INF
    side_max: float = 0.0  # largest |lateral angle| inside the excursion
    below_s: float | None = None  # when θt fell below the hysteresis level (excursion end)
    # top phase aggregates (after the bottom, θt < top_phase_deg)
    top_s: float | None = None
    top_t: float = INF
    top_p: float = INF
    top_l: float = INF
    pelvis_min_after: float = INF  # min θp from the excursion start to the rep end


@dataclass
class RepSegmenter:
    """Chunk-invariant rep segmenter. `feed(t, trunk, pelvis)` → completed reps (valid and rejected);
    `finish()` closes the last one. Inspect `current` for the rep in progress (live display)."""

    settings: RepSettings = field(default_factory=RepSettings)
    current: _Excursion | None = None
    _above: bool = False
    _last: tuple[float, float] | None = None  # (t, lean) of the previous sample, for crossing times
    _since_min_t: float = INF  # min θt since the previous excursion ended
    _since_min_p: float = INF  # min θp since the previous excursion ended

    def feed(
        self,
        t: np.ndarray,
        trunk: np.ndarray,
        pelvis: np.ndarray,
        lean: np.ndarray | None = None,
        side: np.ndarray | None = None,
    ) -> list[RepRecord]:
        """t (n,) s increasing; trunk, pelvis (n,) sagittal degrees; lean (n,) the trunk's lean max(θt, |φ|)
        and side (n,) its lateral angle φ, degrees (default: θt and 0). Returns the reps completed in this chunk."""
        t = np.asarray(t, dtype=float)
        trunk = np.asarray(trunk, dtype=float)
        pelvis = np.asarray(pelvis, dtype=float)
        lean = trunk if lean is None else np.asarray(lean, dtype=float)
        side = np.zeros(len(t)) if side is None else np.abs(np.asarray(side, dtype=float))
        out: list[RepRecord] = []
        s = self.settings
        low = s.start_deg - s.hysteresis_deg
        i, n = 0, len(t)
        while i < n:
            if not self._above:
                # look for the next upward crossing of start_deg
                prev = self._last[1] if self._last is not None else -INF
                j = first_index(lean, i, lambda x: x >= s.start_deg)
                # samples i..j-1 belong to the gap before the next excursion (the tail of a pending rep)
                if j > i:
                    self._tail(t[i:j], trunk[i:j], pelvis[i:j])
                if j == n:
                    self._last = (t[n - 1], lean[n - 1])
                    break
                # rep boundary: the pending rep ends where this excursion starts
                t_prev, x_prev = (t[j - 1], lean[j - 1]) if j > i else (self._last or (t[j], prev))
                start_s = _cross(t_prev, x_prev, t[j], lean[j], s.start_deg)
                if self.current is not None:
                    out.append(self._close(start_s))
                self.current = _Excursion(start_s, self._since_min_t, self._since_min_p)
                self._above = True
                i = j
            else:
                j = first_index(lean, i, lambda x: x < low)
                self._inside(t[i:j], trunk[i:j], pelvis[i:j], side[i:j])
                if j == n:
                    self._last = (t[n - 1], lean[n - 1])
                    break
                self.current.below_s = float(t[j])
                self._above = False
                self._since_min_t = INF
                self._since_min_p = INF
                i = j
            self._last = (t[i - 1], lean[i - 1]) if i > 0 else self._last
        return out

    def feed_one(
        self, t: float, trunk: float, pelvis: float, lean: float | None = None, side: float = 0.0
    ) -> list[RepRecord]:
        """`feed` for a single sample (floats): the same state and reps, without the array machinery.
        The live tracker steps frame by frame (alerts carry the exact frame), so this is its hot path."""
        s = self.settings
        out: list[RepRecord] = []
        x = trunk if lean is None else lean
        if not self._above and x >= s.start_deg:
            start_s = float(t) if self._last is None else _cross(*self._last, t, x, s.start_deg)
            if self.current is not None:
                out.append(self._close(start_s))
            self.current = _Excursion(start_s, self._since_min_t, self._since_min_p)
            self._above = True
        elif self._above and x < s.start_deg - s.hysteresis_deg:
            self.current.below_s = float(t)
            self._above = False
            self._since_min_t = INF
            self._since_min_p = INF
        c = self.current
        if self._above:  # inside the excursion
            if trunk > c.bottom_t:  # a new bottom resets the top phase
                c.bottom_t, c.bottom_s = float(trunk), float(t)
                c.top_s, c.top_t, c.top_p, c.top_l = None, INF, INF, INF
            else:
                self._top_one(t, trunk, pelvis)
            c.pelvis_max = max(c.pelvis_max, float(pelvis))
            c.side_max = max(c.side_max, abs(float(side)))
        else:  # the tail of the pending rep, and 'before' data for the next one
            self._since_min_t = min(self._since_min_t, float(trunk))
            self._since_min_p = min(self._since_min_p, float(pelvis))
            if c is not None:
                self._top_one(t, trunk, pelvis)
        if c is not None:
            c.lumbar_max = max(c.lumbar_max, float(trunk - pelvis))
            c.pelvis_min_after = min(c.pelvis_min_after, float(pelvis))
        self._last = (t, x)
        return out

    def finish(self, end_s: float) -> list[RepRecord]:
        """Close the rep in progress at end_s (end of data)."""
        if self.current is None:
            return []
        below = self.current.below_s
        rec = self._close(end_s)
        if rec.top_s is not None and (below is None or end_s - below < self.settings.min_top_s):
            nan = float("nan")  # the data ended on the way up: the top was cut off, not measured
            rec = dataclasses.replace(rec, top_s=None, trunk_top_deg=nan, pelvis_top_deg=nan, lumbar_top_deg=nan)
        self.current = None
        return [rec]

    # -- internals -------------------------------------------------------------------------------
    def _inside(self, t, trunk, pelvis, side) -> None:
        """Samples inside an excursion (θt above the hysteresis level)."""
        if len(t) == 0:
            return
        c = self.current
        k = int(np.argmax(trunk))
        if trunk[k] > c.bottom_t:
            c.bottom_t, c.bottom_s = float(trunk[k]), float(t[k])
            # a new bottom resets the top phase: it only counts after the bottom
            c.top_s, c.top_t, c.top_p, c.top_l = None, INF, INF, INF
            self._top(t[k + 1 :], trunk[k + 1 :], pelvis[k + 1 :])
        else:
            self._top(t, trunk, pelvis)
        c.pelvis_max = max(c.pelvis_max, float(pelvis.max()))
        c.side_max = max(c.side_max, float(side.max()))
        c.lumbar_max = max(c.lumbar_max, float((trunk - pelvis).max()))
        c.pelvis_min_after = min(c.pelvis_min_after, float(pelvis.min()))

    def _tail(self, t, trunk, pelvis) -> None:
        """Samples outside any excursion: the current rep's tail, and 'before' data for the next one."""
        self._since_min_t = min(self._since_min_t, float(trunk.min()))
        self._since_min_p = min(self._since_min_p, float(pelvis.min()))
        c = self.current
        if c is None:
            return
        self._top(t, trunk, pelvis)
        c.lumbar_max = max(c.lumbar_max, float((trunk - pelvis).max()))
        c.pelvis_min_after = min(c.pelvis_min_after, float(pelvis.min()))

    def _top(self, t, trunk, pelvis) -> None:
        c = self.current
        if len(t) == 0 or c.bottom_t == -INF:
            return
        m = trunk < self.settings.top_phase_deg
        if not m.any():
            return
        tt, pp = trunk[m], pelvis[m]
        k = int(np.argmin(tt))
        if tt[k] < c.top_t:
            c.top_t, c.top_s = float(tt[k]), float(t[m][k])
        c.top_p = min(c.top_p, float(pp.min()))
        c.top_l = min(c.top_l, float((tt - pp).min()))

    def _top_one(self, t: float, trunk: float, pelvis: float) -> None:
        c = self.current
        if c.bottom_t == -INF or not trunk < self.settings.top_phase_deg:
            return
        if trunk < c.top_t:
            c.top_t, c.top_s = float(trunk), float(t)
        c.top_p = min(c.top_p, float(pelvis))
        c.top_l = min(c.top_l, float(trunk - pelvis))

    def _close(self, end_s: float) -> RepRecord:
        c = self.current
        s = self.settings
        has_top = c.top_s is not None
        top_t = c.top_t if has_top else c.before_min_t
        rom = c.bottom_t - max(c.before_min_t, top_t)
        pelvis_rom = c.pelvis_max - min(c.pelvis_min_before, c.pelvis_min_after)
        duration = (c.below_s if c.below_s is not None else end_s) - c.start_s
        valid = (
            rom >= s.min_rom_deg
            and c.side_max <= s.max_side_ratio * max(c.bottom_t, 0.0)
            and s.min_duration_s <= duration <= s.max_duration_s
        )
        nan = float("nan")
        return RepRecord(
            start_s=c.start_s,
            bottom_s=c.bottom_s,
            top_s=c.top_s,
            end_s=float(end_s),
            depth_deg=c.bottom_t,
            trunk_top_deg=c.top_t if has_top else nan,
            pelvis_top_deg=c.top_p if has_top else nan,
            lumbar_top_deg=c.top_l if has_top else nan,
            lumbar_flexion_max_deg=c.lumbar_max,
            rom_deg=rom,
            pelvis_rom_deg=pelvis_rom,
            side_max_deg=c.side_max,
            duration_s=duration,
            valid=valid,
            pelvis_max_deg=c.pelvis_max,
        )


def first_index(x: np.ndarray, i: int, cond, block: int = 512) -> int:
    """Index of the first x[k] (k ≥ i) meeting cond, else len(x); scans growing blocks, not the whole tail."""
    n = len(x)
    while i < n:
        hit = np.flatnonzero(cond(x[i : i + block]))
        if len(hit):
            return i + int(hit[0])
        i += block
        block *= 2
    return n


def _cross(t0: float, x0: float, t1: float, x1: float, level: float) -> float:
    """Time where a line from (t0, x0) to (t1, x1) crosses level (clamped to the segment)."""
    if not np.isfinite(x0) or x1 == x0:
        return float(t1)
    return float(t0 + np.clip((level - x0) / (x1 - x0), 0.0, 1.0) * (t1 - t0))


def segment(
    t: np.ndarray,
    trunk: np.ndarray,
    pelvis: np.ndarray,
    settings: RepSettings | None = None,
    *,
    lean: np.ndarray | None = None,
    side: np.ndarray | None = None,
) -> list[RepRecord]:
    """All reps (valid and rejected) of a whole series: one feed, then finish at the last sample."""
    seg = RepSegmenter(settings or RepSettings())
    reps = seg.feed(t, trunk, pelvis, lean, side)
    return reps + seg.finish(float(t[-1]) if len(t) else 0.0)
