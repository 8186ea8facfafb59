"""Human-readable per-rep report (plain text); the JSON form is `Analysis.to_json`."""

from __future__ import annotations

from hinge.analysis.faults import FAULTS, cue

REP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rep", "index"),
    ("depth°", "depth_deg"),
    ("trunk top°", "trunk_top_deg"),
    ("pelvis top°", "pelvis_top_deg"),
    ("lumbar top°", "lumbar_top_deg"),
    ("rounding°", "lumbar_flexion_max_deg"),
)
"""(heading, analyzer-JSON key) of the per-rep table: the text report, the terminal view and the window."""


def deg_text(value: float) -> str:
    """An angle as every view prints it: one decimal, signed, and never "-0.0" (a value that rounds to
    zero is "0.0"). The one rounding of displayed angles: the table and the fault text agree."""
    r = round(float(value), 1)
    return "0.0" if r == 0 else f"{r:+.1f}"


def plural(n: int, word: str) -> str:
    """'1 rep', '0 reps', '2 reps'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cell(value, width: int) -> str:
    if value is None:
        return "—".rjust(width)
    return (f"{value:d}" if isinstance(value, int) else deg_text(value)).rjust(width)


def _fault_value(rep: dict, fault: dict) -> float:
    """The value a fault was judged on, as the rep's table shows it (the same number, so the same text)."""
    metric = FAULTS.get(fault["kind"], ("",))[0]
    value = rep.get(metric)
    return fault["value_deg"] if value is None else value


def faults_text(rep: dict) -> str:
    """'ok', or a rep's faults as 'trunk behind vertical (fault, -12.3°), …'; a gap rep says it is not judged,
    a rep whose top the end of the recording cut off says so (its top is not judged)."""
    faults = ", ".join(
        f"{f['kind'].replace('_', ' ')} ({f['severity']}, {deg_text(_fault_value(rep, f))}°)"
        for f in rep.get("faults", [])
    )
    if rep.get("withheld"):
        return "not judged: sensors swapped?"
    if rep.get("gap"):
        return "data gap: not judged" + (f"; {faults}" if faults else "")
    if "top_s" in rep and rep["top_s"] is None:
        return "cut by end of recording: top not judged" + (f"; {faults}" if faults else "")
    return faults or "ok"


def limits_text(limits_deg: dict) -> str:
    """'trunk behind vertical 5/10°, …, lumbar rounding 15/25°': caution/fault as magnitudes, as --limit takes them."""
    return ", ".join(f"{k.replace('_', ' ')} {abs(c):g}/{abs(f):g}°" for k, (c, f) in limits_deg.items())


def _athlete_and_limits(result: dict) -> list[str]:
    """The athlete, the limits judged by and, when the recording stores other ones, those (optional keys)."""
    lines = []
    if result.get("athlete"):
        lines.append(f"athlete: {result['athlete']}")
    used, recorded = result.get("limits_deg"), result.get("recorded_limits_deg")
    if used:
        lines.append("limits (caution/fault): " + limits_text(used) + ("  (as recorded)" if recorded == used else ""))
    if recorded and recorded != used:
        lines.append(f"recorded with other limits: {limits_text(recorded)} (--limits-from-recording judges by these)")
    return lines


def format_report(result: dict, *, title: str = "") -> str:
    """Text table of an analyzer-JSON dict: one row per rep, faults marked, then the cues to work on."""
    lines = []
    if title:
        lines.append(title)
    cal = result["calibration"]
    sensors = ", ".join(
        f"{name} {s['rate_hz']:.0f} Hz ({s['lost_samples']} lost)" for name, s in result["sensors"].items()
    )
    lines.append(
        f"exercise: {result['exercise']}  ·  neutral standing {cal['neutral_start_s']:.1f}–{cal['neutral_end_s']:.1f} s"
        f" ({cal['quality']})  ·  {sensors}"
    )
    lines += _athlete_and_limits(result)
    lines.append("  ".join(h for h, _ in REP_COLUMNS) + "  faults")
    for rep in result["reps"]:
        cells = [_cell(rep[key], len(h)) for h, key in REP_COLUMNS]
        lines.append("  ".join(cells) + "  " + faults_text(rep))
    n = result["summary"]["n_reps"]
    counts = result["summary"]["faults"]
    lines.append(
        f"{plural(n, 'rep')}; "
        + (", ".join(f"{k.replace('_', ' ')} ×{v}" for k, v in counts.items()) if counts else "no faults")
    )
    cues = sorted({cue(k) for k in counts})
    for c in cues:
        lines.append(f'cue: "{c}"')
    for w in result.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)
