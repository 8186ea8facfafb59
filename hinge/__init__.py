"""hinge: two-IMU hip-hinge coach (application layer: CLI, runner, live window)."""

__version__ = "0.1.0"
