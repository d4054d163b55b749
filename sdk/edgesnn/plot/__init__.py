"""Figures (matplotlib, extra ``plot``)."""
