"""A second, deliberately naive implementation of docs/fixed-point.md with Python integers.

It shares no code with the golden simulator: scalar loops, Python's unbounded ints and its
floor division. Tests require both to agree exactly.
"""

from __future__ import annotations


def rshift_round_half_up(x: int, s: int) -> int:
    return x if s == 0 else (x + (1 << (s - 1))) // (1 << s)


def pooled(L, s_in: list[int]) -> list[int]:
    """A layer's pooled input (docs/fixed-point.md, "Convolution and pooling"), by loops."""
    P = L.pool
    if P is None:
        return s_in
    c, h, w = P.in_shape
    (kh, kw), (sh, sw) = P.kernel, P.stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = []
    for ch in range(c):
        for py in range(ho):
            for px in range(wo):
                win = [s_in[(ch * h + py * sh + ky) * w + px * sw + kx] for ky in range(kh) for kx in range(kw)]
                out.append(sum(win) if P.kind == "sum" else int(any(win)))
    return out


def acc_of(L, p: list[int], j: int) -> int:
    """Step 1 (or 1') for neuron j of a layer on its pooled input p."""
    G = L.conv
    if G is None:
        return sum(int(L.weight[j, k]) * p[k] for k in range(len(p)) if p[k])
    c_in, h, w = G.in_shape
    c_out, ho, wo = G.out_shape
    o, rest = divmod(j, ho * wo)
    oy, ox = divmod(rest, wo)
    cig, cog = c_in // G.groups, c_out // G.groups
    g = o // cog
    total = 0
    for ci in range(cig):
        for ky in range(G.kernel[0]):
            for kx in range(G.kernel[1]):
                y, x = oy * G.stride[0] + ky - G.padding[0], ox * G.stride[1] + kx - G.padding[1]
                if 0 <= y < h and 0 <= x < w:
                    total += int(L.weight[o, ci, ky, kx]) * p[((g * cig + ci) * h + y) * w + x]
    return total


def run(qnet, inputs):
    """Returns per layer (spikes[n][t][j], v[n][t][j], i[n][t][j] or None)."""
    lo, hi = -(1 << (qnet.state_bits - 1)), (1 << (qnet.state_bits - 1)) - 1
    sat = lambda x: min(max(x, lo), hi)  # noqa: E731
    n_samples, steps = len(inputs), len(inputs[0])
    records = [([], [], []) for _ in qnet.layers]
    for n in range(n_samples):
        state = [([0] * L.n_out, [0] * L.n_out, [0] * L.n_out) for L in qnet.layers]  # i, v, z_prev
        per_layer = [([], [], []) for _ in qnet.layers]
        for t in range(steps):
            s_in = [int(b) for b in inputs[n][t]]
            for li, L in enumerate(qnet.layers):
                i_s, v_s, z_prev = state[li]
                z_new = [0] * L.n_out
                p = pooled(L, s_in)
                for j in range(L.n_out):
                    acc = acc_of(L, p, j)
                    if L.recurrent is not None:
                        acc += sum(int(L.recurrent[j, k]) for k in range(L.n_out) if z_prev[k])
                    assert -(2**31) <= acc < 2**31
                    x = acc * (1 << L.shift) + int(L.bias[j])
                    if L.alpha_syn is not None:
                        i_s[j] = sat(rshift_round_half_up(i_s[j] * int(L.alpha_syn[j]), 16) + x)
                        x = i_s[j]
                    v = sat(rshift_round_half_up(v_s[j] * int(L.alpha_mem[j]), 16) + x)
                    if v > int(L.threshold[j]):
                        z_new[j] = 1
                        v = sat(v - int(L.threshold[j])) if L.reset == "subtract" else int(L.v_reset[j])
                    v_s[j] = v
                state[li] = (i_s, v_s, z_new)
                per_layer[li][0].append(list(z_new))
                per_layer[li][1].append(list(v_s))
                per_layer[li][2].append(list(i_s) if L.alpha_syn is not None else None)
                s_in = z_new
        for li in range(len(qnet.layers)):
            for k in range(3):
                records[li][k].append(per_layer[li][k])
    return records
