"""Errors for bad input files, packets, profiles and devices (one line, names the thing)."""


class InputError(ValueError):
    """Bad input the user can fix; the message names the file / sensor / field / row and what was expected."""
