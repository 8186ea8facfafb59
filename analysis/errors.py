"""Errors raised when data cannot be analysed (one line, names the sensor / setting)."""


class AnalysisError(ValueError):
    """The data cannot be analysed as asked; the message says which sensor or setting and why."""
