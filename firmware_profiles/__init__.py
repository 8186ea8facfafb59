"""Declarative sensor firmware profiles (TOML data files, installed as `hinge.firmware_profiles`); see
README.md in this folder. `hinge.sensing.profiles` loads them as package resources."""
