"""Read an int8 TFLite classifier (FULLY_CONNECTED chain, fused ReLU) through ai-edge-litert's
flatbuffer schema, without an interpreter, into float affine stages.

Weights are dequantized with their per-tensor or per-channel scales and zero points, biases
with ``input_scale * weight_scale``. The model's input scale and zero point are honoured: the
converter feeds intensities x, the ANN sees ``input_scale * (round(x / input_scale) +
zero_point - zero_point)``; ``quantize_input`` reproduces that exactly for the reference run.
RESHAPE, QUANTIZE, DEQUANTIZE and a final SOFTMAX (argmax-invariant) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.convert.ann2snn import Stage
from edgesnn.errors import ModelFileError


@dataclass
class TFLiteANN:
    stages: list[Stage]
    input_scale: float
    input_zero_point: int
    input_dtype: str
    n_inputs: int


def _quant(t) -> tuple[np.ndarray, np.ndarray]:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return np.array([1.0]), np.array([0])
    return np.asarray(q.scale, float), np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], np.int64)


def read_tflite(path: Path) -> TFLiteANN:
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils as fu
    except ImportError:
        raise ModelFileError("reading TFLite files needs ai-edge-litert: pip install 'edgesnn[tflite]'") from None
    try:
        model = fu.read_model(str(path))
    except Exception as e:
        raise ModelFileError(f"{path}: not a readable TFLite file ({type(e).__name__})") from None
    if not model.subgraphs:
        raise ModelFileError(f"{path}: no subgraph")
    g = model.subgraphs[0]
    codes = [fu.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
    B = schema.BuiltinOperator
    names = {v: k for k, v in vars(B).items() if not k.startswith("_")}
    stages = []

    def data(tensor_index: int) -> np.ndarray:
        t = g.tensors[tensor_index]
        buf = model.buffers[t.buffer].data
        if buf is None:
            raise ModelFileError(f"{path}: tensor {t.name!r} has no constant data")
        dtype = {
            schema.TensorType.INT8: np.int8,
            schema.TensorType.INT32: np.int32,
            schema.TensorType.FLOAT32: np.float32,
        }.get(t.type)
        if dtype is None:
            raise ModelFileError(f"{path}: tensor type {t.type} is not supported")
        return np.frombuffer(bytes(buf), dtype=dtype).reshape(t.shape)

    for op in g.operators:
        code = codes[op.opcodeIndex]
        if code == B.FULLY_CONNECTED:
            x_t, w_t = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
            s_in, _ = _quant(x_t)
            s_w, z_w = _quant(w_t)
            w = (data(op.inputs[1]).astype(float) - z_w.reshape(-1, 1)) * s_w.reshape(-1, 1)
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = data(op.inputs[2]).astype(float) * (s_in[0] * s_w)
            else:
                b = np.zeros(w.shape[0])
            opts = op.builtinOptions
            act = getattr(opts, "fusedActivationFunction", 0) if opts is not None else 0
            if act not in (schema.ActivationFunctionType.NONE, schema.ActivationFunctionType.RELU):
                raise ModelFileError(f"{path}: fused activation {act} is not ReLU; cannot convert to IF neurons")
            stages.append(
                Stage(
                    weight=w,
                    bias=np.broadcast_to(b, (w.shape[0],)).copy(),
                    relu=act == schema.ActivationFunctionType.RELU,
                )
            )
        elif code in (B.RESHAPE, B.QUANTIZE, B.DEQUANTIZE):
            continue
        elif code == B.SOFTMAX and op is g.operators[-1]:
            continue
        else:
            raise ModelFileError(
                f"{path}: operator {names.get(code, code)} is not supported (FULLY_CONNECTED chains only)"
            )
    if not stages:
        raise ModelFileError(f"{path}: no FULLY_CONNECTED layer")
    inp = g.tensors[g.inputs[0]]
    s, z = _quant(inp)
    dtype = {
        schema.TensorType.INT8: "int8",
        schema.TensorType.UINT8: "uint8",
        schema.TensorType.FLOAT32: "float32",
    }.get(inp.type, "?")
    return TFLiteANN(
        stages=stages,
        input_scale=float(s[0]),
        input_zero_point=int(z[0]),
        input_dtype=dtype,
        n_inputs=int(np.prod(inp.shape[1:])),
    )


def quantize_input(ann: TFLiteANN, x: np.ndarray) -> np.ndarray:
    """What the int8 model receives for intensities x (the file's scale and zero point)."""
    if ann.input_dtype == "float32":
        return np.asarray(x, np.float32)
    lo, hi = (-128, 127) if ann.input_dtype == "int8" else (0, 255)
    q = np.clip(np.floor(np.asarray(x) / ann.input_scale + 0.5) + ann.input_zero_point, lo, hi)
    return q.astype(np.int8 if ann.input_dtype == "int8" else np.uint8)


def dequantized_input(ann: TFLiteANN, x: np.ndarray) -> np.ndarray:
    if ann.input_dtype == "float32":
        return np.asarray(x, float)
    return ann.input_scale * (quantize_input(ann, x).astype(float) - ann.input_zero_point)


def run_reference(path: Path, ann: TFLiteANN, x: np.ndarray) -> np.ndarray:
    """Predictions of the file's own runtime (the ai-edge-litert interpreter)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], [len(x), ann.n_inputs])
    it.allocate_tensors()
    it.set_tensor(inp["index"], quantize_input(ann, x).reshape(len(x), ann.n_inputs))
    it.invoke()
    return it.get_tensor(out["index"]).reshape(len(x), -1).argmax(axis=1)
