"""Data sets and spike encoders (numpy only)."""
