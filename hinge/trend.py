"""Trends over sets: per set, the median and range of a rep metric (degrees), or a fault count, against
the date the set was done. Drawn with matplotlib to PNG, or to a self-contained HTML page (inline SVG)."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hinge.analysis.faults import FAULTS
from hinge.errors import UserError
from hinge.report import svg_text
from hinge.sets import METRICS

TREND_SUFFIXES = (".png", ".html")


def trend_names() -> list[str]:
    """Rep metrics (without _deg), 'faults' (all kinds) and each fault kind (counts per set)."""
    return [m.removesuffix("_deg") for m in METRICS] + ["faults", *FAULTS]


def per_set(reps: pd.DataFrame, name: str) -> pd.DataFrame:
    """One row per dated set, in date order: date (UTC datetime), median, lo, hi (degrees, or the count
    three times for fault counts), n_reps."""
    key = name.removesuffix("_deg")
    if key not in trend_names():
        raise UserError(f"--trend {name!r}: expected one of {', '.join(trend_names())}")
    reps = reps[reps["recorded_at"].fillna("") != ""]
    rows = []
    for h, g in reps.groupby("content_hash", sort=False):
        if key + "_deg" in METRICS:
            v = g[key + "_deg"].dropna().to_numpy(dtype=float)
            stats = (np.median(v), v.min(), v.max()) if len(v) else (np.nan,) * 3
        else:
            kinds = [f.split(":")[0] for faults in g["faults"].fillna("") for f in faults.split(", ") if f]
            n = float(len(kinds) if key == "faults" else kinds.count(key))
            stats = (n, n, n)
        date = dt.datetime.strptime(g["recorded_at"].iloc[0], "%Y-%m-%dT%H:%M:%SZ")
        rows.append({"content_hash": h, "date": date, "median": stats[0], "lo": stats[1], "hi": stats[2],
                     "n_reps": len(g)})  # fmt: skip
    return pd.DataFrame(rows, columns=["content_hash", "date", "median", "lo", "hi", "n_reps"]).sort_values(
        "date", kind="stable"
    )


TREND_COLOUR = "#1f4e9e"


def trend_figure(stats: pd.DataFrame, name: str, title: str) -> Figure:
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = stats["date"].to_numpy()
    is_metric = name.removesuffix("_deg") + "_deg" in METRICS
    if is_metric:
        ax.vlines(x, stats["lo"], stats["hi"], color=TREND_COLOUR, alpha=0.35, lw=6, label="range (min–max of reps)")
    ax.plot(x, stats["median"], "o-", color=TREND_COLOUR, lw=1.5, ms=6, label="median of reps" if is_metric else None)
    label = name.removesuffix("_deg").replace("_", " ")
    ax.set_ylabel(f"{label} (°)" if is_metric else f"{label}: faults per set")
    ax.set_title(title, fontsize=11)
    ax.grid(True, color="#dddddd", lw=0.5)
    if is_metric:
        ax.axhline(0.0, color="#555555", lw=0.6)
        ax.legend(fontsize=8, loc="best")
    fig.autofmt_xdate()
    return fig


def write_trend(reps: pd.DataFrame, name: str, out: Path, *, title: str) -> int:
    """Draw the trend of `name` over the sets in `reps` (a history rep table) to out (.png / .html).
    Returns the number of sets drawn."""
    stats = per_set(reps, name)
    if stats.empty:
        raise UserError(f"--trend {name}: no dated sets to draw")
    fig = trend_figure(stats, name, f"hinge trend: {title}")
    try:
        if out.suffix.lower() == ".png":
            fig.savefig(out, dpi=100)
        else:
            rows = "".join(
                f"<tr><td>{d:%Y-%m-%d %H:%M}</td><td>{m:+.1f}</td><td>{lo:+.1f}</td><td>{hi:+.1f}</td><td>{n}</td></tr>"
                for d, m, lo, hi, n in stats[["date", "median", "lo", "hi", "n_reps"]].itertuples(index=False)
            )
            e = html.escape(title)
            out.write_text(
                f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>hinge trend: {e}</title>'
                "<style>body{font-family:system-ui,sans-serif;margin:24px}td,th{padding:2px 10px;text-align:right}"
                f"</style></head><body><figure>{svg_text(fig)}</figure><table><tr><th>date (UTC)</th><th>median</th>"
                f"<th>min</th><th>max</th><th>reps</th></tr>{rows}</table></body></html>\n",
                encoding="utf-8",
            )
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    return len(stats)
