"""Load and save any edgesnn model file, telling float (NIR/HDF5) from quantized (zip) by content."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.formats import qmodel
from edgesnn.ir import Network

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"


def atomic_write(path: Path, write) -> None:
    """Write to a temporary file beside ``path`` and rename: a crash never leaves half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model: Network | QuantNetwork, path: str | os.PathLike) -> Path:
    """Save a float network as NIR, a quantized one as ``.qsnn`` (or as NIR with the integer
    model in its metadata when ``path`` ends in ``.nir``); returns the path."""
    path = Path(path)
    model = _record_dataset(model, path)
    if isinstance(model, QuantNetwork) and path.suffix != ".nir":
        data = qmodel.to_bytes(model)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    elif isinstance(model, QuantNetwork):  # NIR with the exact integer model in its metadata
        import nir

        from edgesnn.formats.nir_import import export_graph

        graph = export_graph(model)
        atomic_write(path, lambda tmp: nir.write(tmp, graph))
    elif isinstance(model, Network):
        import nir

        from edgesnn.formats.nir_float import to_nir

        graph = to_nir(model)
        atomic_write(path, lambda tmp: nir.write(tmp, graph))
    else:
        raise TypeError(f"cannot save a {type(model).__name__}")
    return path


def _record_dataset(model, path: Path):
    """The model with its data set file recorded relative to the model file (so the pair can
    move together, and the model works from any directory) and absolute as a fallback; built-in
    names and files that do not exist here are kept as they are."""
    name = model.input_spec.get("dataset")
    if not name or not Path(name).is_file():
        return model
    absolute = Path(name).resolve()
    rel = os.path.relpath(absolute, path.parent.resolve())
    return replace(model, input_spec={**model.input_spec, "dataset": rel, "dataset_absolute": str(absolute)})


def _resolve_dataset(model, path: Path):
    """The model with its recorded data set file found: beside the model file (where
    ``save_model`` records it), else at its absolute path, else as recorded (models saved
    earlier recorded it relative to the directory they were trained in)."""
    name = model.input_spec.get("dataset")
    if not name:
        return model
    tries = [] if Path(name).is_absolute() else [path.parent / name]
    tries += [Path(model.input_spec["dataset_absolute"])] if model.input_spec.get("dataset_absolute") else []
    for found in tries:
        if found.is_file():
            return replace(model, input_spec={**model.input_spec, "dataset": str(found)})
    return model


def load_model(path: str | os.PathLike) -> Network | QuantNetwork:
    """Load a float (NIR) or quantized (.qsnn) model, raising ModelFileError with the cause; a
    data set file it records is looked up beside the model file first."""
    path = Path(path)
    return _resolve_dataset(_load(path), path)


def _load(path: Path) -> Network | QuantNetwork:
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    data = path.read_bytes()
    if data.startswith(_ZIP_MAGIC):
        return qmodel.from_bytes(data, str(path))
    if data.startswith(_HDF5_MAGIC):
        from edgesnn.formats.nir_import import read_nir

        try:
            graph = read_nir(path)
        except Exception as e:  # h5py/nir raise many types on damaged files
            raise ModelFileError(f"{path}: corrupt NIR file ({type(e).__name__}: {e})") from None
        from edgesnn.formats.nir_import import import_graph, quantized_from_graph

        try:
            q = quantized_from_graph(graph, str(path))
            if q is not None:
                return q
            return import_graph(graph)[0]  # another tool's graph: see `edgesnn import` for --dt/--reset
        except ModelFileError as e:
            raise ModelFileError(f"{path}: {e}") from None
        except ValueError as e:
            raise ModelFileError(f"{path}: invalid network ({e})") from None
    raise ModelFileError(f"{path}: not an edgesnn model (neither a NIR graph nor a .qsnn file)")
