"""Headless view of a live session: status lines, cues and one table row per finished rep.

Used when no display is available (`hinge live`, `demo`, `replay` fall back to it) and by anyone who
prefers a terminal. It pulls from the `Session` like the window does, from a task on the session's own
loop (``asyncio.run(run_headless(session))``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from hinge.analysis.core import METRICS
from hinge.analysis.faults import FAULTS
from hinge.analysis.report import REP_COLUMNS, deg_text, faults_text, plural
from hinge.analysis.tracker import Alert, Calibrated, Placement, Remeasured, Rep
from hinge.session import Session, SessionStatus
from hinge.ui import battery_text, calibration_text

_KIND_OF_METRIC = {metric: kind for kind, (metric, _cue) in FAULTS.items()}

def rep_cells(rep: dict) -> list[tuple[str, str | None]]:
    """Per REP_COLUMNS: (text, severity of the fault judged on that metric: 'fault', 'caution', None)."""
    severity = {f["kind"]: f["severity"] for f in rep.get("faults", [])}
    out = []
    for _heading, key in REP_COLUMNS:
        value = rep.get(key)
        if value is None:
            text = "—"
        elif key == "index":
            text = str(value)
        else:
            text = deg_text(value)
        out.append((text, severity.get(_KIND_OF_METRIC.get(key, ""))))
    return out


SWAP_STATUS = "SENSORS SWAPPED? faults withheld"
SWAP_HINT = "run again with --swap (or press 'Swap sensors' in the window)"


def status_text(st: SessionStatus) -> str:
    """One line: state, calibration, and per sensor connection, measured rate, lost samples, battery."""
    parts = [st.state]
    if st.t_s is not None:
        parts.append(f"t {st.t_s:6.1f} s")
    parts.append(st.check or (calibration_text(st) if st.calibrated else "stand still…"))
    for name, s in st.sensors.items():
        battery = f" bat {battery_text(s.battery)}" if battery_text(s.battery) else ""
        link = "connected" if s.connected else "not connected"
        dropped = f" dropped {s.dropped_packets}" if s.dropped_packets else ""
        parts.append(f"{name} {link} {s.rate_hz:.0f} Hz lost {s.lost_samples}{dropped}{battery}")
    parts.append(plural(st.reps, "rep"))
    if st.swap_suspected:
        parts.append(SWAP_STATUS)
    elif st.swapped:
        parts.append("sensors swapped")
    if st.error:
        parts.append(f"error: {st.error}")
    return " · ".join(parts)


REPRINT_DEG = 1.0  # a rep measured again is printed again when a figure moved this much (or its faults changed)


def worth_reprinting(old: dict | None, new: dict) -> bool:
    """Whether a rep measured again after a data hole (`Remeasured`) differs enough from its printed row
    to print it again: its faults (kind and severity) changed or a figure moved by `REPRINT_DEG`."""
    if old is None:
        return True
    if {(f["kind"], f["severity"]) for f in old["faults"]} != {(f["kind"], f["severity"]) for f in new["faults"]}:
        return True
    return any(
        old[k] is not None and new[k] is not None and abs(new[k] - old[k]) >= REPRINT_DEG
        or (old[k] is None) != (new[k] is None)
        for k in METRICS
    )


class TerminalView:
    """Prints what a session produces: a status line when it changes (and every `status_every_s`
    of data time), the cue of each alert, and a table row per finished rep (and again, under a line
    saying so, when a rep after a data hole measured again changed its faults or moved a figure by 1°)."""

    def __init__(self, session: Session, out: TextIO | None = None, *, status_every_s: float = 10.0) -> None:
        self.session = session
        self.out = out or sys.stdout
        self.status_every_s = status_every_s
        self._cursor = 0
        self._generation = session.generation
        self._last_key: tuple | None = None
        self._last_status_t = -float("inf")
        self._header_done = False
        self._cued: set[tuple[str, str]] = set()
        self._printed: dict[int, dict] = {}  # rep index -> the rep as its row was printed
        self.rows = 0

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def update(self) -> None:
        """Pull new events and the status; print what changed."""
        s = self.session
        if s.generation != self._generation:
            self._generation, self._cursor = s.generation, 0
            self._print("— restarted —")
        events, self._cursor = s.events_since(self._cursor)
        for item in events:
            ev = item.event
            if isinstance(ev, Calibrated):
                how = {"ok": "still", "short_still": "a short pause (no 1.5-s stand yet)",
                       "no_still_period": "the quietest second (no stand yet)"}.get(ev.quality, ev.quality)
                self._print(f"calibrated on {how}: neutral {ev.neutral_start_s:.1f}–{ev.neutral_end_s:.1f} s")
            elif isinstance(ev, Alert):
                if (ev.cue, ev.severity) in self._cued:
                    continue  # one line per cue and severity per rep
                self._cued.add((ev.cue, ev.severity))
                self._print(f"  ! {ev.cue}  ({ev.kind.replace('_', ' ')}, {ev.severity} {deg_text(ev.value_deg)}°, "
                            f"t {ev.t:.1f} s)")
            elif isinstance(ev, Placement):
                self._print(f"  ! {ev.message}; {SWAP_HINT}" if ev.swap_suspected else "placement looks right now")
            elif isinstance(ev, Rep):
                self._cued.clear()
                self._printed[ev.rep["index"]] = ev.rep
                self._rep_row(ev.rep)
            elif isinstance(ev, Remeasured) and worth_reprinting(self._printed.get(ev.rep["index"]), ev.rep):
                self._printed[ev.rep["index"]] = ev.rep
                self._print(f"  rep {ev.rep['index']} measured again after a data hole:")
                self._rep_row(ev.rep, again=True)
        st = s.status()
        key = (st.state, st.calibrated, tuple((n, x.connected) for n, x in st.sensors.items()), st.error,
               st.swap_suspected, st.check)
        t = st.t_s if st.t_s is not None else 0.0
        if st.state == "error":
            return  # the command ends with the error as its one line (hinge.cli); no second copy here
        if key != self._last_key or t - self._last_status_t >= self.status_every_s:
            self._last_key, self._last_status_t = key, t
            self._print(status_text(st))

    def _rep_row(self, rep: dict, again: bool = False) -> None:
        widths = [max(len(h), 6) for h, _ in REP_COLUMNS]
        if not self._header_done:
            self._header_done = True
            self._print("  ".join(h.rjust(w) for (h, _), w in zip(REP_COLUMNS, widths, strict=True)) + "  faults")
        cells = [text.rjust(w) for (text, _sev), w in zip(rep_cells(rep), widths, strict=True)]
        self._print("  ".join(cells) + "  " + faults_text(rep))
        self.rows += not again

    async def follow(self, interval_s: float = 0.25) -> None:
        """Update every interval_s until cancelled."""
        while True:
            self.update()
            await asyncio.sleep(interval_s)


async def run_headless(session: Session, *, duration_s: float | None = None, out: TextIO | None = None,
                       interval_s: float = 0.25) -> TerminalView:
    """Run the session on this loop with a terminal view; returns the view when the session ends."""
    view = TerminalView(session, out)
    printer = asyncio.ensure_future(view.follow(interval_s))
    try:
        await session.run(duration_s)
    finally:
        printer.cancel()
        try:
            await printer
        except asyncio.CancelledError:
            pass
        view.update()
    return view
