"""QuantNetwork -> C sources: the model's const tables and configuration, from jinja2 templates.

Pure: returns file contents; writing them is the caller's business. The runtime itself is
hand-written C (firmware_templates/runtime) and is copied, not generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import numpy as np

from edgesnn import __version__
from edgesnn.firmware import layout
from edgesnn.firmware.layout import packed_rows
from edgesnn.firmware.paths import templates_dir
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantNetwork

ABI_VERSION = 6
#: The runtime's sources every build compiles (the serial protocol and plasticity come on top).
RUNTIME_CORE = ("esnn.c", "esnn_conv.c")


def c_int(v: int) -> str:
    """An int32 literal that is valid C for every value, INT32_MIN included."""
    v = int(v)
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)


def _ints(arr) -> str:
    return ", ".join(c_int(v) for v in np.asarray(arr).ravel())


def _words(arr) -> str:
    vals = [f"0x{int(v):08x}u" for v in np.asarray(arr).ravel()]
    return "\n".join("    " + ", ".join(vals[i : i + 8]) + "," for i in range(0, len(vals), 8))


def fits_int32(layer, qnet: QuantNetwork) -> bool:
    """Whether the runtime may use its 32-bit neuron update (ESNN_FAST32) for this layer:
    |acc * 2^shift| + |bias| + 2^(S-1) < 2^31, and S <= 30 for current-based layers."""
    bound = layer.fan_in * C.weight_limit(qnet.weight_bits) * (1 << layer.shift) + int(
        np.abs(layer.bias).max(initial=0)
    )
    if bound + (1 << (qnet.state_bits - 1)) > 2**31 - 1:
        return False
    return not layer.current_based or qnet.state_bits <= 30


def specialised_update(layer, qnet: QuantNetwork) -> dict | None:
    """The constants of a generated neuron update (runtime/esnn_update.h), or None when the
    layer needs the generic one: current-based layers, 64-bit arithmetic, per-neuron decay or
    reset values, or states wider than 30 bits (the decay doubles v in a 32-bit word)."""
    alpha, v_reset = np.unique(layer.alpha_mem), np.unique(layer.v_reset)
    bias, threshold = layer.bias, layer.threshold
    if layer.conv is not None:
        g = layer.conv
        if g.groups > 1 and (g.out_channels // g.groups) % 2:
            return None  # padding lanes between groups: the channels are not the lanes
        bias, threshold = layout.channel_values(layer, "bias"), layout.channel_values(layer, "threshold")
        if bias is None or threshold is None:
            return None
    if layer.current_based or not fits_int32(layer, qnet) or qnet.state_bits > 30 or alpha.size != 1:
        return None
    if not 0 <= int(alpha[0]) <= 65536 or (layer.reset != "subtract" and v_reset.size != 1):
        return None
    return {
        "alpha": int(alpha[0]),
        "bias": 1 if np.any(bias != 0) else 0,
        "subtract": 1 if layer.reset == "subtract" else 0,
        "v_reset": c_int(int(v_reset[0])) if layer.reset != "subtract" else 0,
        "bt": np.stack([bias, threshold], axis=1).ravel(),
    }


def model_table_bytes(qnet: QuantNetwork, specialise: bool = True) -> list[int]:
    """Flash taken by each layer's const tables (packed rows + int32 parameters per neuron, or per
    output channel for convolutions: (bias, threshold) pairs for layers with a specialised
    update, else four or five arrays; plus a convolution's or pooling's shape record)."""
    out = []
    for i, L in enumerate(qnet.layers):
        fast = specialise and specialised_update(L, qnet) is not None
        per = L.conv.out_channels if L.conv is not None else L.n_out
        shapes = (32 if L.conv is not None else 0) + (20 if L.pool is not None else 0)  # the records on 32-bit cores
        edges = sum(  # rows, or one word per channel, plus the record (and its pooling's or convolution's)
            _edge_words(c, qnet)
            + 5
            + (5 if c.pool is not None else 0)
            + (8 if c.conv is not None and not _one_to_one(c, qnet) else 0)
            for c in qnet.connections
            if c.target == i
        )
        out.append(
            4 * layout.weight_words(qnet, i)
            + 4 * per * (2 if fast else 5 if L.current_based else 4)
            + shapes
            + 4 * edges
        )
    return out


#: esnn_layer_t.flags of each SEW gate (esnn.h: ESNN_GATE_OR, ESNN_GATE_IAND)
GATE_FLAGS = {"or": 16, "iand": 32}


def _edge_words(c, qnet: QuantNetwork) -> int:
    """uint32 words of a connection's weight table."""
    if c.conv is None:
        return int(packed_rows(c.weight)[0].size)
    return int(c.weight.size if _one_to_one(c, qnet) else layout.conv_rows(c).size)


#: timesteps of PCM a STEP_PCM frame can hold (an audio model's frame buffers are sized for them)
PCM_STEPS_PER_FRAME = 2


def max_payload(qnet: QuantNetwork) -> int:
    """Largest protocol payload (docs/protocol.md): one sparse timestep with every input active,
    the RESULT reply, or HELLO with a 32-character board name (and an audio model's rates);
    an audio model's PCM_STEPS_PER_FRAME timesteps of PCM; rounded up to 4 bytes."""
    need = max(3 + 2 * qnet.n_inputs, 14 + 2 * qnet.n_outputs, 52, 1 + (qnet.n_outputs + 7) // 8)
    fe = qnet.front_end
    if fe is not None:
        need = max(need, 57, 1 + 2 * fe.samples_per_step * PCM_STEPS_PER_FRAME)
    return -(-need // 4) * 4


@dataclass(frozen=True)
class ModelSources:
    files: dict[str, str]  # file name -> contents
    table_bytes: int  # flash taken by the model's const tables
    total_neurons: int
    max_words: int
    #: every layer has a generated update and idle step: the build may compile the runtime's
    #: generic ones out (-DESNN_ALL_GENERATED; esnn_model.c refuses the flag otherwise)
    all_generated: bool = False


def _one_to_one(c, qnet: QuantNetwork) -> bool:
    """A depthwise 1x1 connection between two maps of one shape, from a convolutional layer: a
    residual the runtime adds neuron to neuron (``esnn_edge_t.dw``)."""
    g = c.conv
    return (
        g is not None
        and g.kernel == (1, 1)
        and g.stride == (1, 1)
        and g.padding == (0, 0)
        and g.groups == g.in_shape[0] == g.out_channels
        and c.source >= 0
        and qnet.layers[c.source].conv is not None
        and qnet.layers[c.source].conv.out_shape == g.in_shape
    )


def _same_lanes(c, tgt) -> bool:
    """A convolutional connection whose sums share the target convolution's packed lanes: the
    same output shape and grouping, no pooling (``esnn_edge_t.conv``)."""
    g = c.conv
    return (
        g is not None
        and c.pool is None
        and tuple(g.out_shape) == tuple(tgt.conv.out_shape)
        and g.groups == tgt.conv.groups
    )


def runtime_graph_problem(qnet: QuantNetwork) -> str | None:
    """Why the C runtime cannot run this model's graph, or None: a chain, or a graph whose
    connections are fully connected into fully connected layers, or one-to-one (per channel)
    between maps of one shape into convolutional layers (``esnn_edge_t``); none pools."""
    for k, c in enumerate(qnet.connections):
        tgt = qnet.layers[c.target]
        where = f"connection {k} (layer {c.source} -> layer {c.target})"
        if c.pool is not None and (tgt.conv is not None or not c.pool.tiles):
            return f"{where} pools its input into a convolution, or with stride != kernel; the runtime's connections pool tiled maps into fully connected layers"
        if tgt.conv is None and c.conv is not None:
            return f"{where} is a convolution into a fully connected layer"
        if tgt.conv is not None and not (_one_to_one(c, qnet) or _same_lanes(c, tgt)):
            return (
                f"{where} into a convolution is neither one to one nor a convolution of the layer's output "
                "shape and grouping"
            )
    return None


def _edge_record(qnet: QuantNetwork, c) -> dict:
    """A connection's tables for ``esnn_edge_t``: packed rows (columns in the device's order of
    the source's spikes), or one weight per channel for a one-to-one connection."""
    rec = {"source": c.source, "target": c.target, "n_in": c.n_syn, "w": None, "dw": None, "pool": None, "conv": None}
    from_map = c.source >= 0 and qnet.layers[c.source].conv is not None  # a map's spikes come in HWC order
    if c.conv is not None and _one_to_one(c, qnet):
        rec["dw"] = np.asarray(c.weight).reshape(-1)
        return rec
    if c.conv is not None:  # a convolution of its own into the target's sums (a shortcut)
        rec["conv"] = _conv_record(c, from_map, qnet.weight_bits)
        rec["w"] = layout.conv_rows(c).ravel()
        return rec
    w = c.weight
    if c.pool is not None:  # pooled events come in HWC order whatever the source's order
        rec["pool"] = _pool_record(c, from_map)
        w = w[:, layout.hwc_order(c.pool.out_shape)]
    elif from_map:
        w = w[:, layout.hwc_order(qnet.layers[c.source].conv.out_shape)]
    rec["w"] = packed_rows(w)[0].ravel()
    return rec


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["ints"] = _ints
    env.filters["words"] = _words
    return env


def _conv_record(L, in_hwc: bool, weight_bits: int) -> dict | None:
    """The esnn_conv_t initialiser of a convolutional layer (``init``) and the sizes its
    generated update loops over."""
    g = L.conv
    if g is None:
        return None
    words_g, words_pos = layout.conv_words(L)
    init = [
        *g.in_shape,
        *g.out_shape,
        *g.kernel,
        *g.stride,
        *g.padding,
        int(in_hwc),
        int(L.fan_in * C.weight_limit(weight_bits) < 2**15),
        g.in_shape[0] // g.groups,
        g.out_channels // g.groups,
        words_g,
        words_pos,
        "esnn_step_conv",
    ]
    return {"init": init, "out_c": g.out_channels, "positions": g.out_shape[1] * g.out_shape[2], "words_pos": words_pos}


def _pool_record(L, in_hwc: bool) -> list[int] | None:
    """The esnn_pool_t initialiser of a layer's input pooling."""
    p = L.pool
    if p is None:
        return None
    return [1 if p.kind == "sum" else 2, *p.kernel, int(in_hwc), *p.in_shape, *p.out_shape[1:], "esnn_pool_events"]


def render_model(qnet: QuantNetwork, learn_layer: int | None = None, specialise: bool = True) -> ModelSources:
    """Render esnn_model.h / esnn_model.c for a quantized network.

    ``learn_layer``: index of a layer whose weight rows go to RAM so that it can learn on the device.
    ``specialise``: give eligible layers a generated neuron update (False: the generic one
    everywhere, for benchmarks that compare the two).
    """
    if runtime_graph_problem(qnet) is not None:  # boards.rule_graph refuses such a model before any build
        raise ValueError(f"the C runtime cannot run this graph: {runtime_graph_problem(qnet)}")
    if not qnet.is_chain and learn_layer is not None:
        raise ValueError("on-device learning runs chains of layers only; this model is a graph")
    if learn_layer is not None:
        if learn_layer < 0:
            learn_layer += len(qnet.layers)
        if not 0 <= learn_layer < len(qnet.layers):
            raise ValueError(f"learning layer {learn_layer} does not exist")
    srcs = qnet.sources or tuple(range(-1, len(qnet.layers) - 1))
    by_target = sorted(range(len(qnet.connections)), key=lambda k: qnet.connections[k].target)  # stable
    edges = [_edge_record(qnet, qnet.connections[k]) for k in by_target]
    gates = {g.layer: g for g in qnet.gates}
    layers, offset = [], 0
    max_words = layout.scratch_words(qnet)  # ESNN_MODEL_MAX_WORDS: the packed-sum scratch
    table_bytes = sum(model_table_bytes(qnet, specialise))
    any_cuba = False
    for li, L in enumerate(qnet.layers):
        if L.conv is not None:
            w, words = layout.conv_rows(L), layout.part_words(qnet, li)
        else:
            w, words = packed_rows(layout.dense_weight(qnet, li))
        r = None if L.recurrent is None else packed_rows(L.recurrent)[0]
        flags = (1 if L.current_based else 0) | (2 if r is not None else 0) | (4 if L.reset == "subtract" else 0)
        flags |= 8 if fits_int32(L, qnet) else 0
        flags |= GATE_FLAGS[gates[li].op] if li in gates else 0
        update = specialised_update(L, qnet) if specialise else None
        # per neuron, or per output channel for a convolution
        params = {n: layout.channel_values(L, n) if L.conv is not None else getattr(L, n) for n in layout.PARAMS}
        before, after = layout.input_is_hwc(qnet, li)
        layers.append(
            {
                "conv": _conv_record(L, after, qnet.weight_bits),
                "pool": _pool_record(L, before),
                "n_in": L.n_syn,
                "n_out": L.n_out,
                "words": words,
                "shift": L.shift,
                "flags": flags,
                "kind": ("current-based" if L.current_based else "voltage-based")
                + (" recurrent" if r is not None else ""),
                "reset": L.reset,
                "w": w.ravel(),
                "r": None if r is None else r.ravel(),
                **params,
                "offset": offset,
                "fast": update,
                "source": srcs[li],
                "first_edge": next((k for k, e in enumerate(edges) if e["target"] == li), 0),
                "n_edges": sum(e["target"] == li for e in edges),
                "gate_source": gates[li].source if li in gates else -1,
            }
        )
        any_cuba |= L.current_based
        offset += L.n_out
    pool_events, pool_seen = layout.pooled_scratch(qnet)
    lo, hi = C.state_limits(qnet.state_bits)
    ctx = {
        "banner": f"Generated by edgesnn {__version__} from model {qnet.name!r} (hash {qnet.content_hash[:16]}). "
        "Generated file: do not edit; regenerate with `edgesnn build`.",
        "abi_version": ABI_VERSION,
        "contract_version": qnet.contract_version,
        "name": qnet.name.replace('"', "'"),
        "hash32": qnet.hash32,
        "n_inputs": qnet.n_inputs,
        "n_outputs": qnet.n_outputs,
        "layers": layers,
        "edges": edges,
        "graph": not qnet.is_chain,
        "total_neurons": offset,
        "current_slots": offset if any_cuba else 1,
        "has_current": any_cuba,
        "max_words": max_words,
        "pool_events": pool_events,
        "pool_seen": pool_seen,
        "max_events": qnet.n_inputs + offset,
        "table_bytes": table_bytes,
        "max_payload": max_payload(qnet),
        "learn_layer": -1 if learn_layer is None else learn_layer,
        "chunk": min(32767 // C.weight_limit(qnet.weight_bits), 65535),
        "weight_limit": C.weight_limit(qnet.weight_bits),
        "state_lo": c_int(lo),
        "state_hi": c_int(hi),
        "state_bits": qnet.state_bits,
        "max_layer_width": max(L.n_out for L in qnet.layers),
        "decision": qnet.decision,
        "afe": qnet.front_end,
        "all_generated": all(L["fast"] is not None for L in layers),
    }
    env = _env()
    files = {
        "esnn_model.h": env.get_template("model/esnn_model.h.j2").render(ctx),
        "esnn_model.c": env.get_template("model/esnn_model.c.j2").render(ctx),
    }
    return ModelSources(files, table_bytes, offset, max_words, ctx["all_generated"])


def runtime_files() -> dict[str, str]:
    """The hand-written runtime, copied next to the generated model."""
    d = templates_dir() / "runtime"
    return {p.name: p.read_text() for p in sorted(d.glob("esnn*.[ch]"))}
