"""An event-driven, compiled implementation of the integer contract (numba; optional).

The same steps as ``contract.neuron_step`` and the same synaptic sums, but fused per sample and
timestep the way the firmware runs them: for every input that spiked, add its weight row to the
int32 accumulators (work proportional to spikes, not to the matrix), then update each neuron.
Tests hold it to the numpy simulator and to the scalar reference with exact equality; it is
used only when numba is installed (``pip install 'edgesnn[fast]'``).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edgesnn.fixedpoint import contract as C

#: numba is imported (and the kernel compiled, or loaded from its cache) on first use only,
#: so that commands which never simulate much do not pay its start-up time.
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


CHUNK = 256


def _layer_kernel(
    s_in,
    w_t,
    r_t,
    has_rec,
    shift,
    bias,
    cuba,
    alpha_syn,
    alpha_mem,
    threshold,
    subtract,
    v_reset,
    lo,
    hi,
    record,
    out,
    rec_v,
    rec_i,
    v_last,
):
    n_samples, steps, n_in = s_in.shape
    n_out = w_t.shape[1]
    acc = np.zeros(n_out, np.int32)
    part = np.zeros(n_out, np.int16)
    active = np.zeros(n_in, np.int64)
    v = np.zeros(n_out, np.int64)
    cur = np.zeros(n_out, np.int64)
    z_prev = np.zeros(n_out, np.bool_)
    half = np.int64(1 << 15)
    sat = 0
    for n in range(n_samples):
        v[:] = 0
        cur[:] = 0
        z_prev[:] = False
        for t in range(steps):
            acc[:] = 0
            # Event-driven: only inputs that spiked do synaptic work. Partial sums of up to
            # CHUNK int8 weights fit int16 exactly (256 * 127 < 2**15), which doubles the SIMD
            # width of the inner loop; each chunk is then widened into the int32 accumulator.
            # Branch-free list of the inputs that spiked (random spikes defeat branch prediction).
            n_active = 0
            for k in range(n_in):
                active[n_active] = k
                n_active += s_in[n, t, k]
            for a0 in range(0, n_active, CHUNK):
                part[:] = 0
                for a in range(a0, min(a0 + CHUNK, n_active)):
                    k = active[a]
                    for j in range(n_out):
                        part[j] += w_t[k, j]
                for j in range(n_out):
                    acc[j] += part[j]
            if has_rec:
                for k in range(n_out):
                    if z_prev[k]:
                        for j in range(n_out):
                            acc[j] += r_t[k, j]
            for j in range(n_out):
                x = (np.int64(acc[j]) << shift) + bias[j]
                if cuba:
                    c = min(max(((cur[j] * alpha_syn[j] + half) >> 16) + x, lo), hi)
                    sat += (c == lo) | (c == hi)
                    cur[j] = c
                    x = c
                u = min(max(((v[j] * alpha_mem[j] + half) >> 16) + x, lo), hi)
                sat += (u == lo) | (u == hi)
                z = u > threshold[j]
                # branch-free reset; v > threshold >= 1 so v - threshold needs no saturation
                if subtract:
                    u -= threshold[j] * z
                else:
                    u = v_reset[j] if z else u
                v[j] = u
                z_prev[j] = z
                out[n, t, j] = z
            if record:
                rec_v[n, t, :] = v
                if cuba:
                    rec_i[n, t, :] = cur
        v_last[n, :] = v
    return sat


_compiled = None


def _kernel():
    global _compiled
    if _compiled is None:
        import numba

        _compiled = numba.njit(cache=True, nogil=True)(_layer_kernel)
    return _compiled


def run_layer(layer, s_in: np.ndarray, state_bits: int, record: bool):
    """(spikes, v record or None, i record or None, final v, state writes at the limit) of one layer."""
    n, steps = s_in.shape[:2]
    n_out = layer.n_out
    lo, hi = C.state_limits(state_bits)
    out = np.zeros((n, steps, n_out), np.bool_)
    shape = (n, steps, n_out) if record else (1, 1, 1)
    rec_v = np.zeros(shape, np.int64)
    rec_i = np.zeros(shape if layer.current_based else (1, 1, 1), np.int64)
    has_rec = layer.recurrent is not None
    r_t = np.ascontiguousarray(layer.recurrent.T, np.int32) if has_rec else np.zeros((1, 1), np.int32)
    alpha_syn = layer.alpha_syn if layer.current_based else np.zeros(n_out, np.int64)
    v_last = np.zeros((n, n_out), np.int64)
    sat = _kernel()(
        np.ascontiguousarray(s_in, np.bool_),
        np.ascontiguousarray(layer.weight.T, np.int8),
        r_t,
        has_rec,
        np.int64(layer.shift),
        np.ascontiguousarray(layer.bias),
        layer.current_based,
        np.ascontiguousarray(alpha_syn),
        np.ascontiguousarray(layer.alpha_mem),
        np.ascontiguousarray(layer.threshold),
        layer.reset == "subtract",
        np.ascontiguousarray(layer.v_reset),
        np.int64(lo),
        np.int64(hi),
        record,
        out,
        rec_v,
        rec_i,
        v_last,
    )
    return out, (rec_v if record else None), (rec_i if record and layer.current_based else None), v_last, int(sat)
