"""A report per set: one self-contained HTML page (inline SVG charts, no scripts, no network), and the
same content as one PNG (for messaging apps) or PDF page (for printing), drawn with matplotlib.

Content: trunk, pelvis and lumbar traces with the caution/fault bands of the limits used and a marker per
rep (at its bottom, coloured by its worst fault), the per-rep table, fault totals and cues, the neutral
posture found, calibration quality and every warning, the sensors, athlete, exercise, date and file.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from hinge.analysis.faults import FAULTS, cue
from hinge.analysis.report import REP_COLUMNS, deg_text, faults_text
from hinge.errors import UserError
from hinge.sets import AnalysedSet, fault_totals, worst_severity
from hinge.ui import BLUE, GREEN, GREY, ORANGE, PURPLE, VERMILLION, YELLOW, text_colour_on

TRACES = (  # (frames column, title, colour): the live window's colours (`hinge.ui`, colour-blind safe)
    ("trunk_deg", "trunk (thoracic) °", BLUE),
    ("pelvis_deg", "pelvis (sacrum) °", ORANGE),
    ("lumbar_deg", "lumbar (trunk − pelvis) °", PURPLE),
)
SEVERITY_COLOURS = {"ok": GREEN, "caution": YELLOW, "fault": VERMILLION, "gap": GREY}  # as the window's rep marks
BAND_ALPHA = 0.16
HEADER_BG = "#263238"


def _trace_of(metric: str) -> str:
    """'trunk_deg' / 'pelvis_deg' / 'lumbar_deg': the trace a fault's metric is read from."""
    return metric.split("_")[0] + "_deg"


def bands(limits: dict[str, list[float]]) -> dict[str, list[tuple[float, float, str]]]:
    """Per trace, (from_deg, to_deg, severity) bands of the fault limits; ±inf for the open end."""
    out: dict[str, list[tuple[float, float, str]]] = {col: [] for col, _, _ in TRACES}
    for kind, (caution, fault) in limits.items():
        far = -np.inf if fault < 0 else np.inf
        out[_trace_of(FAULTS[kind][0])] += [(caution, fault, "caution"), (fault, far, "fault")]
    return out


def draw_traces(axes, aset: AnalysedSet) -> None:
    """The three traces on three axes (shared time axis): bands, then the trace, then the rep markers."""
    frames, reps = aset.frames, aset.reps
    t = frames["t"].to_numpy()
    band_map = bands(aset.settings["limits"])
    for ax, (col, title, colour) in zip(axes, TRACES, strict=True):
        y = frames[col].to_numpy()
        finite = [v for b in band_map[col] for v in b[:2] if np.isfinite(v)]
        lo, hi = min(np.nanmin(y), *finite, 0.0), max(np.nanmax(y), *finite, 0.0)
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
        for a, b, severity in band_map[col]:
            a, b = (np.clip(v, lo - pad, hi + pad) for v in (a, b))
            ax.axhspan(min(a, b), max(a, b), color=SEVERITY_COLOURS[severity], alpha=BAND_ALPHA, lw=0)
        ax.axhline(0.0, color="#555555", lw=0.6)
        ax.plot(t, y, color=colour, lw=1.6)
        ax.set_ylabel(title, fontsize=9)
        ax.set_xlim(t[0], t[-1])
        ax.grid(True, color="#dddddd", lw=0.5)
        ax.tick_params(labelsize=8)
    trunk_ax = axes[0]
    y = frames["trunk_deg"].to_numpy()
    for rep in reps:
        tb = rep["bottom_s"]
        yb = float(np.interp(tb, t, y))
        trunk_ax.plot([tb], [yb], "o", ms=9, color=SEVERITY_COLOURS[worst_severity(rep)], mec="none", zorder=5)
        trunk_ax.annotate(str(rep["index"]), (tb, yb), xytext=(0, 8), textcoords="offset points", ha="center",
                          fontsize=8)  # fmt: skip
    axes[-1].set_xlabel("time (s)", fontsize=9)


def summary(aset: AnalysedSet) -> dict[str, Any]:
    """The report's text: meta (label, value) pairs, totals, cues, warnings."""
    r, info = aset.result, aset.info
    cal = r["calibration"]
    sensors = "; ".join(
        f"{name}: {info.profiles.get(name) or 'profile unknown'}, {s['rate_hz']:.0f} Hz, {s['lost_samples']} lost"
        for name, s in r["sensors"].items()
    )
    kinds = {f["kind"] for rep in r["reps"] for f in rep["faults"]}
    return {
        "title": f"hinge report — {r['exercise'].replace('_', ' ')}, {info.recorded_at[:10] or 'date unknown'}",
        "meta": [
            ("athlete", info.athlete or "unknown"),
            ("exercise", r["exercise"]),
            ("date", info.recorded_at.replace("T", " ").replace("Z", " UTC") or "unknown"),
            ("file", info.file),
            *([("label", info.label)] if info.label else []),
            ("sensors", sensors),
            ("neutral posture", f"standing {cal['neutral_start_s']:.1f}–{cal['neutral_end_s']:.1f} s"),
            ("calibration", cal["quality"]),
        ],
        "totals": fault_totals(r),
        "cues": sorted({cue(k) for k in kinds}),
        "warnings": list(r["warnings"]),
    }


def _rep_cells(rep: dict[str, Any]) -> list[str]:
    cells = []
    for _, key in REP_COLUMNS:
        v = rep[key]
        cells.append("—" if v is None else str(v) if isinstance(v, int) else deg_text(v))
    return [*cells, faults_text(rep)]


def svg_text(fig: Figure) -> str:
    """The figure as an inline <svg> element (text as text, no date, stable ids)."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hinge"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def trace_figure(aset: AnalysedSet) -> Figure:
    fig = Figure(figsize=(11, 7), layout="constrained")
    draw_traces(fig.subplots(3, 1, sharex=True), aset)
    return fig


_CSS = f"""
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1d1d1d; max-width: 1120px; }}
h1 {{ font-size: 22px; margin: 0 0 12px; }} h2 {{ font-size: 16px; margin: 20px 0 8px; }}
dl {{ display: grid; grid-template-columns: 150px auto; gap: 2px 12px; margin: 0; }} dt {{ color: #666; }}
table.reps {{ border-collapse: separate; border-spacing: 0 3px; font-size: 13px; }}
table.reps th {{ background: {HEADER_BG}; color: #fff; padding: 5px 10px; text-align: right; }}
table.reps td {{ padding: 3px 10px; text-align: right; font-variant-numeric: tabular-nums; }}
table.reps td.faults, table.reps th.faults {{ text-align: left; }}
table.reps td.sev {{ font-weight: bold; min-width: 34px; }}
{"".join(f"td.sev-{s} {{ background: {c}; color: {text_colour_on(c)}; }} " for s, c in SEVERITY_COLOURS.items())}
.warn {{ color: #8a4b00; }} .legend span {{ display: inline-block; padding: 1px 8px; margin-right: 4px; }}
"""


def html_report(aset: AnalysedSet) -> str:
    """The report as one self-contained HTML page."""
    s = summary(aset)
    e = html.escape
    meta = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in s["meta"])
    head = "".join(f"<th>{e(h)}</th>" for h, _ in REP_COLUMNS) + '<th class="faults">faults</th>'
    rows = []
    for rep in aset.reps:
        cells = _rep_cells(rep)
        sev = worst_severity(rep)
        rows.append(
            f'<tr class="rep"><td class="sev sev-{sev}" title="{sev}">{e(cells[0])}</td>'
            + "".join(f"<td>{e(c)}</td>" for c in cells[1:-1])
            + f'<td class="faults">{e(cells[-1])}</td></tr>'
        )
    legend = "".join(f'<span style="background:{c}; color:{text_colour_on(c)}">{s_}</span>'
                     for s_, c in SEVERITY_COLOURS.items())
    cues = "".join(f"<li>“{e(c)}”</li>" for c in s["cues"]) or "<li>none: keep it up</li>"
    warnings = "".join(f'<li class="warn">{e(w)}</li>' for w in s["warnings"]) or "<li>none</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(s["title"])}</title>
<style>{_CSS}</style></head>
<body>
<h1>{e(s["title"])}</h1>
<dl>{meta}</dl>
<h2>Traces</h2>
<p class="legend">bands and rep markers: {legend}</p>
<figure style="margin:0">{svg_text(trace_figure(aset))}</figure>
<h2>Reps</h2>
<table class="reps"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Fault totals</h2><p>{e(s["totals"])}</p>
<h2>Cues</h2><ul>{cues}</ul>
<h2>Warnings</h2><ul>{warnings}</ul>
</body></html>
"""


def page_figure(aset: AnalysedSet) -> Figure:
    """The report as one matplotlib figure (PNG / PDF): header, traces, rep table, totals, cues, warnings."""
    s = summary(aset)
    footer = [s["totals"], *(f"cue: “{c}”" for c in s["cues"]), *(f"warning: {w}" for w in s["warnings"])]
    n_rows = len(aset.reps) + 1
    heights = [0.25 * len(s["meta"]) + 0.5, 2.0, 2.0, 2.0, 0.26 * n_rows + 0.3, 0.24 * len(footer) + 0.3]
    fig = Figure(figsize=(12, sum(heights)), layout="constrained")
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    head = fig.add_subplot(gs[0])
    head.axis("off")
    head.text(0, 1, s["title"], fontsize=15, weight="bold", va="top", transform=head.transAxes)
    for i, (k, v) in enumerate(s["meta"]):
        y = 1 - (i + 1.6) / (len(s["meta"]) + 1.6)
        head.text(0, y, k, fontsize=9, color="#666666", va="top", transform=head.transAxes)
        head.text(0.14, y, v, fontsize=9, va="top", transform=head.transAxes)
    trace_axes = [fig.add_subplot(gs[1])]
    trace_axes += [fig.add_subplot(gs[i], sharex=trace_axes[0]) for i in (2, 3)]
    draw_traces(trace_axes, aset)
    tab = fig.add_subplot(gs[4])
    tab.axis("off")
    if aset.reps:
        table = tab.table(
            cellText=[_rep_cells(r) for r in aset.reps],
            colLabels=[h for h, _ in REP_COLUMNS] + ["faults"],
            colWidths=[0.04, 0.06, 0.07, 0.07, 0.07, 0.07, 0.59],
            cellLoc="right",
            loc="upper left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        for (row, col), cell in table.get_celld().items():
            cell.set_edgecolor("white")
            cell.set_linewidth(1.5)
            if row == 0:
                cell.set_facecolor(HEADER_BG)
                cell.get_text().set_color("white")
            elif col == 0:
                colour = SEVERITY_COLOURS[worst_severity(aset.reps[row - 1])]
                cell.set_facecolor(colour)
                cell.get_text().set_color(text_colour_on(colour))
            if col == len(REP_COLUMNS):
                cell.get_text().set_horizontalalignment("left")
                cell.PAD = 0.02
    foot = fig.add_subplot(gs[5])
    foot.axis("off")
    for i, line in enumerate(footer):
        colour = "#8a4b00" if line.startswith("warning") else "#1d1d1d"
        foot.text(0, 1 - i / max(len(footer), 1), line, fontsize=9, va="top", color=colour, transform=foot.transAxes)
    return fig


def write_report(aset: AnalysedSet, *, html_out=None, png_out=None, pdf_out=None, dpi: int = 100) -> list[Path]:
    """Write the asked-for forms; returns the paths written."""
    written = []
    fig = page_figure(aset) if (png_out or pdf_out) else None
    for out, option in ((html_out, "--html"), (png_out, "--png"), (pdf_out, "--pdf")):
        if out is None:
            continue
        out = Path(out)
        try:
            if option == "--html":
                out.write_text(html_report(aset), encoding="utf-8")
            else:
                fig.savefig(
                    out, format=option[2:], dpi=dpi, metadata={"CreationDate": None} if option == "--pdf" else {}
                )
        except OSError as exc:
            raise UserError(f"{option} {out}: cannot write: {exc.strerror or exc}") from None
        written.append(out)
    return written
