"""Declarative sensor firmware profiles (TOML data files); see README.md in this folder."""

from pathlib import Path

PROFILE_DIR = Path(__file__).resolve().parent
