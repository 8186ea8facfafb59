"""Helpers the views share (no Qt): whether a Qt window can be shown, how a battery level reads, the
window's colours and how readable text on them is."""

from __future__ import annotations

import os


def has_display() -> bool:
    """True when a Qt window can be shown (a display, or Qt's offscreen platform chosen)."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return True
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def battery_text(level: object) -> str:
    """A battery level as the views show it ("64%"), "" when unknown (a firmware may send none)."""
    return f"{level:g}%" if isinstance(level, int | float) and not isinstance(level, bool) else ""


def calibration_text(st) -> str:
    """What the views say about the neutral posture and the sagittal plane (a `SessionStatus`)."""
    if st.calibration == "short_still":
        text = "Calibrated on a pause · stand still 2 s to refine"
    elif st.calibration == "no_still_period":
        text = "Rough zero (no stand) · stand still 2 s to refine"
    else:
        text = "Calibrated ✓"
    return text if st.axes else f"{text} · bend forward once"


# -- colours ---------------------------------------------------------------------------------------
# Okabe & Ito's palette, chosen to stay distinct for the common kinds of colour blindness.
BLUE, ORANGE, GREEN, YELLOW, VERMILLION, PURPLE = "#0072B2", "#E69F00", "#009E73", "#F0E442", "#D55E00", "#CC79A7"
GREY = "#BBBBBB"
SEVERITY_COLOURS = {"caution": YELLOW, "fault": VERMILLION}
REP_MARKS = {"ok": ("✓", GREEN), "caution": ("!", YELLOW), "fault": ("✗", VERMILLION), "not judged": ("?", GREY)}
"""How a rep's marker reads: state -> (sign, colour). "not judged": data missing inside the rep."""


def rep_mark(rep: dict) -> str:
    """A rep's marker state: 'not judged' (a data gap), else its worst fault's severity, else 'ok'."""
    if rep.get("gap"):
        return "not judged"
    severities = {f["severity"] for f in rep.get("faults") or []}
    return "fault" if "fault" in severities else "caution" if severities else "ok"


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a '#rrggbb' colour."""
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255.0 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two '#rrggbb' colours (1 to 21; body text wants at least 4.5)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on `background`."""
    return "#000000" if contrast_ratio(background, "#000000") >= contrast_ratio(background, "#FFFFFF") else "#FFFFFF"


def highlight_style(background: str, extra: str = "") -> str:
    """A Qt style sheet: this background with readable text."""
    return f"background: {background}; color: {text_colour_on(background)}; {extra}".strip()

