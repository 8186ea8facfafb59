"""Helpers the views share (no Qt): whether a Qt window can be shown, how a battery level reads, the
window's colours and how readable text on them is."""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping

QT_XCB_LIBS = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
}
"""System libraries Qt's X11 (xcb) platform plugin needs beyond libxcb itself -> Debian package. Without
one of them Qt aborts the process (SIGABRT) when the window is created (README: per platform)."""


def qt_platform(env: Mapping[str, str] | None = None) -> str:
    """The Qt platform plugin a window would use: QT_QPA_PLATFORM, else Qt's own choice on Linux (wayland
    in a Wayland session, else xcb); "native" on Windows and macOS."""
    env = os.environ if env is None else env
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if chosen:
        return chosen
    if os.name == "nt" or sys.platform == "darwin":
        return "native"
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def missing_qt_libs(env: Mapping[str, str] | None = None,
                    find: Callable[[str], str | None] = ctypes.util.find_library) -> list[str]:
    """Debian packages of the system libraries the window's Qt platform needs and this machine lacks
    ([] when nothing is missing or the platform is not xcb). Ask before creating the window: Qt aborts
    the whole process when its platform plugin cannot load."""
    if qt_platform(env) != "xcb":
        return []
    return [package for lib, package in QT_XCB_LIBS.items() if find(lib) is None]


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

