"""The edgesnn Python API: the pipeline as functions, the same ones the ``edgesnn`` command calls.

::

    import edgesnn.api as es

    r = es.train("digits", "digits.nir", epochs=40)           # float NIR model, trained with QAT
    q = es.quantize("digits.nir", "digits.qsnn")               # the integer contract, content hash
    s = es.simulate("digits.qsnn")                             # the golden model: accuracy, synaptic events
    es.verify("digits.qsnn", "qemu-mps2-an385")                # firmware == simulator, every state
    out = es.stream("digits.qsnn", board="qemu-mps2-an385")    # deploy, stream the test split, compare
    print(out["accuracy"], out["mismatches"])

Models can be passed as objects (``Network``, ``QuantNetwork``) or file paths. Functions return
plain dicts of figures (the keys the CLI's ``--json`` prints) plus, where one is made, the model
object under ``"network"``. Errors are the typed exceptions of :mod:`edgesnn.errors`, each with a
one-line message naming the cause. Host-side firmware checks for your own tests:
:mod:`edgesnn.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each function is imported from its module on first use (PEP 562), so that a command imports
# only the stage it runs: `edgesnn simulate` never loads the serial, firmware or plotting code.
_MODULE_OF = {
    **dict.fromkeys(["connect", "deploy", "flash_plan", "identity", "ports", "stream"], "device"),
    **dict.fromkeys(["boards", "build", "energy", "verify"], "firmware"),
    **dict.fromkeys(["convert", "export_nir", "import_nir"], "interop"),
    **dict.fromkeys(["evolve", "learn", "stdp"], "learning"),
    "demo": "mainjob",
    **dict.fromkeys(
        [
            "data_import",
            "data_info",
            "dataset",
            "events_from_video",
            "info",
            "load",
            "quantize",
            "save",
            "simulate",
            "version",
        ],
        "model",
    ),
    "plot": "plots",
    "train": "training",
    **dict.fromkeys(["simulate_stream", "is_stream_run", "stream_context"], "streams"),
    "stream_live": "stream_live",
    "events_from_audio": "audio",
    **dict.fromkeys(["deploy_fleet", "stop_fleet", "stream_fleet"], "fleet"),
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'edgesnn.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edgesnn.api.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from edgesnn.api.audio import events_from_audio
    from edgesnn.api.device import connect, deploy, flash_plan, identity, ports, stream
    from edgesnn.api.firmware import boards, build, energy, verify
    from edgesnn.api.fleet import deploy_fleet, stop_fleet, stream_fleet
    from edgesnn.api.interop import convert, export_nir, import_nir
    from edgesnn.api.learning import evolve, learn, stdp
    from edgesnn.api.mainjob import demo
    from edgesnn.api.model import (
        data_import,
        data_info,
        dataset,
        events_from_video,
        info,
        load,
        quantize,
        save,
        simulate,
        version,
    )
    from edgesnn.api.plots import plot
    from edgesnn.api.stream_live import stream_live
    from edgesnn.api.streams import is_stream_run, simulate_stream, stream_context
    from edgesnn.api.training import train

__all__ = [
    "load",
    "save",
    "dataset",
    "data_info",
    "data_import",
    "events_from_video",
    "events_from_audio",
    "version",
    "train",
    "quantize",
    "simulate",
    "simulate_stream",
    "is_stream_run",
    "stream_context",
    "stream_live",
    "info",
    "boards",
    "build",
    "verify",
    "energy",
    "deploy",
    "flash_plan",
    "connect",
    "stream",
    "identity",
    "deploy_fleet",
    "stream_fleet",
    "stop_fleet",
    "ports",
    "learn",
    "stdp",
    "evolve",
    "import_nir",
    "export_nir",
    "convert",
    "plot",
    "demo",
]
