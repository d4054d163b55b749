"""Model files. Float networks are NIR graphs (``.nir``); quantized networks are ``.qsnn`` archives."""

from edgesnn.formats.files import load_model, save_model

__all__ = ["load_model", "save_model"]
