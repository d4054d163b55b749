"""Firmware: template rendering, the board registry and its rules, toolchains, sizes, runs."""
