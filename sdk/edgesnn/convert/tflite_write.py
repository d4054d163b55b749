"""Write small int8 TFLite classifiers with ai-edge-litert's flatbuffer schema (no TensorFlow needed):
an int8 fully-connected network from numpy weights, for tests, examples and users without TF.

Full-integer quantization as TFLite's converter does it: per-channel symmetric int8 weights,
int32 biases at input_scale * weight_scale, asymmetric int8 activations calibrated on data.
"""

from __future__ import annotations

import numpy as np


def quantize_mlp(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x_calib: np.ndarray,
    input_scale: float = 1 / 255,
    input_zero_point: int = -128,
) -> bytes:
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.tools import flatbuffer_utils as fu

    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 5
    model.operatorCodes = [code]
    g = s.SubGraphT()
    g.tensors, g.operators = [], []

    def tensor(name, shape, ttype, scale, zp, data=None, qdim=0):
        t = s.TensorT()
        t.name, t.shape, t.type = name.encode(), np.array(shape, np.int32), ttype
        q = s.QuantizationParametersT()
        q.scale = np.atleast_1d(np.asarray(scale, np.float32))
        q.zeroPoint = np.atleast_1d(np.asarray(zp, np.int64))
        q.quantizedDimension = qdim
        t.quantization = q
        if data is None:
            t.buffer = 0
        else:
            b = s.BufferT()
            b.data = np.frombuffer(data.tobytes(), np.uint8)
            model.buffers.append(b)
            t.buffer = len(model.buffers) - 1
        g.tensors.append(t)
        return len(g.tensors) - 1

    n_in = weights[0].shape[1]
    x = tensor("input", [1, n_in], s.TensorType.INT8, input_scale, input_zero_point)
    g.inputs = np.array([x], np.int32)
    s_prev = input_scale
    a = input_scale * (np.clip(np.floor(x_calib / input_scale + 0.5) + input_zero_point, -128, 127) - input_zero_point)
    for i, (w, b) in enumerate(zip(weights, biases)):
        last = i == len(weights) - 1
        s_w = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127
        wq = np.clip(np.round(w / s_w[:, None]), -127, 127).astype(np.int8)
        bq = np.round(b / (s_prev * s_w)).astype(np.int32)
        wt = tensor(f"w{i}", list(w.shape), s.TensorType.INT8, s_w, np.zeros_like(s_w, np.int64), wq)
        bt = tensor(f"b{i}", [w.shape[0]], s.TensorType.INT32, s_prev * s_w, np.zeros_like(s_w, np.int64), bq)
        z = a @ (wq * s_w[:, None]).T + bq * (s_prev * s_w)
        if not last:
            z = np.maximum(z, 0)
            lo, hi = 0.0, float(z.max())
        else:
            lo, hi = float(min(z.min(), 0)), float(max(z.max(), 0))
        s_out = max(hi - lo, 1e-6) / 255
        zp_out = int(np.round(-128 - lo / s_out))
        out = tensor(f"a{i}", [1, w.shape[0]], s.TensorType.INT8, s_out, zp_out)
        op = s.OperatorT()
        op.opcodeIndex = 0
        op.inputs = np.array([x, wt, bt], np.int32)
        op.outputs = np.array([out], np.int32)
        op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
        opts = s.FullyConnectedOptionsT()
        opts.fusedActivationFunction = s.ActivationFunctionType.NONE if last else s.ActivationFunctionType.RELU
        op.builtinOptions = opts
        g.operators.append(op)
        a = s_out * (np.clip(np.floor(z / s_out + 0.5) + zp_out, -128, 127) - zp_out)
        x, s_prev = out, s_out
    g.outputs = np.array([x], np.int32)
    model.subgraphs = [g]
    return bytes(fu.convert_object_to_bytearray(model))
