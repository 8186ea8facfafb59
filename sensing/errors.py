"""Errors for bad input files, packets, profiles and devices (one line, names the thing)."""


class InputError(ValueError):
    """Bad input the user can fix; the message names the file / sensor / field / row and what was expected."""


def describe_error(exc: BaseException) -> str:
    """An exception as one line for the user: the first line of its message, else its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
