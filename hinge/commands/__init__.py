"""One module per CLI command (see hinge.cli)."""
