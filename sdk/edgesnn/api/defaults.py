"""Defaults the command line shows before it imports a pipeline stage (kept import-free)."""

#: The board the main job (``edgesnn demo``) builds for and verifies on.
DEFAULT_BOARD = "qemu-mps2-an385"
