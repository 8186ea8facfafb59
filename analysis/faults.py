"""Fault limits (user settings) and per-rep fault classification (docs/ARCHITECTURE.md §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

# kind -> (metric, coaching cue)
FAULTS: dict[str, tuple[str, str]] = {
    "trunk_behind_vertical": ("trunk_top_deg", "Shoulders never behind hips at the top"),
    "posterior_pelvic_tilt": ("pelvis_top_deg", "Shoulders never behind hips at the top"),
    "lumbar_hyperextension": ("lumbar_top_deg", "Shoulders never behind hips at the top"),
    "lumbar_rounding": ("lumbar_flexion_max_deg", "Spine never rounds when leaning over"),
}

_DEFAULT_LIMITS = {
    "trunk_behind_vertical": (-5.0, -10.0),
    "posterior_pelvic_tilt": (-5.0, -10.0),
    "lumbar_hyperextension": (-5.0, -10.0),
    "lumbar_rounding": (15.0, 25.0),
}


@dataclass(frozen=True)
class FaultLimits:
    """(caution_deg, fault_deg) per fault kind. Negative limits trigger at or below, positive at or above."""

    limits: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(_DEFAULT_LIMITS))

    def with_overrides(self, **kw: tuple[float, float]) -> FaultLimits:
        unknown = set(kw) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kind {sorted(unknown)[0]!r}; expected one of {', '.join(FAULTS)}")
        return FaultLimits({**self.limits, **kw})

    def severity(self, kind: str, value: float) -> str | None:
        """'fault', 'caution' or None for a metric value (degrees) of a fault kind."""
        caution, fault = self.limits[kind]
        return "fault" if _beyond(value, fault) else "caution" if _beyond(value, caution) else None


def _beyond(value: float, limit: float) -> bool:
    return value <= limit if limit < 0 else value >= limit


def classify(metrics: dict[str, float], limits: FaultLimits = FaultLimits()) -> list[dict]:
    """Faults of one rep from its metrics (degrees), as analyzer-JSON dicts, worst first per kind."""
    out = []
    for kind, (metric, _cue) in FAULTS.items():
        value = metrics.get(metric)
        if value is None or value != value:  # missing or NaN
            continue
        severity = limits.severity(kind, value)
        if severity:
            caution, fault = limits.limits[kind]
            limit = fault if severity == "fault" else caution
            out.append({"kind": kind, "severity": severity, "value_deg": round(value, 1), "limit_deg": limit})
    return out


def cue(kind: str) -> str:
    """The coaching cue for a fault kind."""
    return FAULTS[kind][1]
