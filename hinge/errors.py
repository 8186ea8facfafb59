"""Errors the user can act on: printed as one line, exit status 2."""


class UserError(Exception):
    """Bad input or setup; the message names the file / sensor / field and what was expected."""
