"""Helpers the views share: whether a Qt window can be shown, how a battery level reads."""

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
