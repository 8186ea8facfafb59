"""Fault limits (user settings) and per-rep fault classification (docs/ARCHITECTURE.md §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

# kind -> (metric, coaching cue)
FAULTS: dict[str, tuple[str, str]] = {
    "trunk_behind_vertical": ("trunk_top_deg", "Shoulders never behind hips at the top"),
    "posterior_pelvic_tilt": ("pelvis_top_deg", "No glute squeeze — just stand up straight"),
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

    def with_magnitudes(self, kind: str, caution_deg: float, fault_deg: float) -> FaultLimits:
        """Limits given as magnitudes on the fault's own side, as users write them: trunk_behind_vertical
        8, 12 means caution 8° and fault 12° *behind* vertical; lumbar_rounding 15, 25 means 15° and 25° of
        flexion. Raises ValueError (one line) for a negative magnitude or a caution beyond its fault."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULTS)}")
        side = "flexion" if _DEFAULT_LIMITS[kind][0] > 0 else "behind neutral"
        if caution_deg < 0 or fault_deg < 0:
            raise ValueError(f"limits are magnitudes in degrees on the fault's side ({side}): expected two numbers ≥ 0")
        if caution_deg > fault_deg:
            raise ValueError(f"the caution limit ({caution_deg:g}°) is beyond the fault limit ({fault_deg:g}°)")
        sign = 1.0 if _DEFAULT_LIMITS[kind][0] > 0 else -1.0
        return self.with_overrides(**{kind: (sign * caution_deg, sign * fault_deg)})

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
