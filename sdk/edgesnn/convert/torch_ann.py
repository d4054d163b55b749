"""Read a torch ReLU network (Linear, Conv2d, AvgPool2d, Flatten, ReLU; Dropout/Identity skipped)
into affine stages. Convolutions and pooling between two ReLUs are composed into one dense
matrix by applying them to the identity basis (exact; weight sharing is not kept)."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

from edgesnn.convert.ann2snn import Stage
from edgesnn.errors import ModelFileError

SKIPPED = ("Dropout", "Identity")
LINEAR = ("Linear", "Conv2d", "AvgPool2d", "Flatten")


def leaf_modules(model) -> list:
    import torch

    children = list(model.children())
    if not children:
        return [model]
    out = []
    for c in children:
        out.extend(leaf_modules(c) if isinstance(c, torch.nn.Sequential) or list(c.children()) else [c])
    return out


def input_shape_for(first, n_inputs: int) -> tuple[int, ...]:
    """Flat for Linear; (C, H, W) with a square image for Conv2d."""
    if type(first).__name__ == "Conv2d":
        c = first.in_channels
        side = int(round(math.sqrt(n_inputs / c)))
        if c * side * side != n_inputs:
            raise ModelFileError(f"cannot shape {n_inputs} inputs into {c} square channels for the first Conv2d")
        return (c, side, side)
    return (n_inputs,)


def stages_from_torch(model, n_inputs: int) -> list[Stage]:
    import torch

    mods = [m for m in leaf_modules(model) if type(m).__name__ not in SKIPPED]
    for m in mods:
        if type(m).__name__ not in LINEAR + ("ReLU",):
            raise ModelFileError(
                f"layer type {type(m).__name__} cannot be converted (supported: {', '.join(LINEAR)}, ReLU)"
            )
    shape = input_shape_for(mods[0], n_inputs)
    stages: list[Stage] = []
    segment: list = []

    def close(relu: bool):
        nonlocal shape
        if not segment:
            raise ModelFileError("two ReLUs without a linear layer between them")
        n = int(math.prod(shape))
        with torch.no_grad():
            eye = torch.eye(n, dtype=torch.float64).reshape((n,) + shape)
            zero = torch.zeros((1,) + shape, dtype=torch.float64)
            y, y0 = eye, zero
            for m in segment:
                m64 = copy.deepcopy(m).double()  # never touch the caller's module
                try:
                    y, y0 = m64(y), m64(y0)
                except RuntimeError as e:
                    raise ModelFileError(
                        f"{type(m).__name__} does not accept input of shape {tuple(y.shape[1:])}: "
                        f"{str(e).splitlines()[0]}"
                    ) from None
        bias = y0.reshape(-1).numpy()
        stages.append(Stage(weight=(y.reshape(n, -1).numpy() - bias).T.copy(), bias=bias.copy(), relu=relu))
        shape = tuple(y.shape[1:])
        segment.clear()

    for m in mods:
        if type(m).__name__ == "ReLU":
            close(True)
        else:
            segment.append(m)
    if segment:
        close(False)
    return stages


def load_torch_model(path: Path, *, trust_pickle: bool = False):
    """A TorchScript module, or a whole module saved with ``torch.save``.

    Pickled modules are loaded with ``weights_only=True`` and only torch.nn's standard layers
    (those edgesnn converts) allowed, so a file cannot run code on load. A module built from
    other classes needs TorchScript (``torch.jit.script(m).save(path)``) or, for a file the user
    trusts, ``trust_pickle=True`` (full pickle, which can run any code).
    """
    import torch

    try:
        m = torch.jit.load(str(path))
    except Exception:
        try:
            if trust_pickle:
                m = torch.load(str(path), weights_only=False)
            else:
                allowed = [
                    getattr(torch.nn, n) for n in (*LINEAR, *SKIPPED, "ReLU", "Sequential") if hasattr(torch.nn, n)
                ]
                with torch.serialization.safe_globals(allowed):
                    m = torch.load(str(path), weights_only=True)
        except Exception as e:
            msg = str(e)
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
            if found:
                raise ModelFileError(
                    f"{path}: a pickled module using {found.group(1)}, which edgesnn does not unpickle "
                    "(it could run code); save it with torch.jit.script, or pass --trust-pickle "
                    "if you trust this file"
                ) from None
            raise ModelFileError(
                f"{path}: not a torch model file ({type(e).__name__}: {msg.splitlines()[0] if msg else ''})"
            ) from None
    if not isinstance(m, torch.nn.Module):
        raise ModelFileError(
            f"{path}: holds a {type(m).__name__}, not a torch module (save the module, not a state_dict)"
        )
    return m.eval()
