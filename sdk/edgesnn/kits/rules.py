"""The named rules a quantized model must pass to map onto a neuromorphic kit; each failure
names the rule, the kit, the limit and the layer (the kit's limits are data: boards/*.toml).

The shape rules (layers, sizes, cores) read only shapes, so they also run on a ``kits.plan.Plan``:
the network training would make, checked before the first epoch (``check_kit_plan``)."""

from __future__ import annotations

from typing import Any

from edgesnn.errors import FitError
from edgesnn.firmware.boards import Board
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.kits.plan import Plan


def _fail(rule: str, kit: Board, msg: str) -> None:
    raise FitError(f"rule {rule} on kit {kit.name}: {msg}", rule)


def rule_kit_dialect(kit: Board, qnet: QuantNetwork) -> None:
    """The model is quantized in the kit's arithmetic (an export-only kit takes edgesnn's: its
    export is the model's float meaning)."""
    if kit.check["how"] == "none" and qnet.dialect == "edgesnn":
        return
    if qnet.dialect != kit.dialect:
        _fail("kit-dialect", kit, f"the model is quantized for {qnet.dialect}; quantize it with --board {kit.name}")


def rule_kit_layers(kit: Board, qnet: QuantNetwork | Plan) -> None:
    """Dense layers; at most ``hidden_layers`` hidden layers (those edgesnn maps) and a readout
    that is not recurrent."""
    most = kit.limits.get("hidden_layers")
    layers: tuple[Any, ...] = qnet.layers  # quantized or planned layers: the same shape fields
    for i, L in enumerate(layers):
        if (L.conv is not None or L.pool is not None) and "core_memory" not in kit.data:
            _fail("kit-layers", kit, f"layer {i} is convolutional or pooled; this kit takes dense layers")
    if most is not None and len(qnet.layers) - 1 > most:
        _fail(
            "kit-layers", kit, f"{len(qnet.layers) - 1} hidden layers; edgesnn maps {most} hidden layer and a readout"
        )
    if most is not None and len(qnet.layers) < 2:
        _fail("kit-layers", kit, "a hidden layer and a readout layer are needed")
    if most is not None and qnet.layers[-1].recurrent is not None:
        _fail("kit-layers", kit, f"layer {len(qnet.layers) - 1} (the readout) cannot be recurrent")


def rule_kit_sizes(kit: Board, qnet: QuantNetwork | Plan) -> None:
    """Inputs, hidden neurons (in all, and those that take inputs or drive the readout) and
    outputs within the kit's counts."""
    lim = kit.limits
    if qnet.n_inputs > lim["inputs"]:
        _fail("kit-inputs", kit, f"{qnet.n_inputs} input channels (limit {lim['inputs']})")
    if qnet.n_outputs > lim["outputs"]:
        _fail("kit-outputs", kit, f"layer {len(qnet.layers) - 1} has {qnet.n_outputs} outputs (limit {lim['outputs']})")
    hidden = sum(L.n_out for L in qnet.layers[:-1])
    if hidden > lim["hidden"]:
        _fail("kit-hidden", kit, f"{hidden} hidden neurons (limit {lim['hidden']})")
    if len(qnet.layers) > 1:
        if "input_expansion" in lim and qnet.layers[0].n_out > lim["input_expansion"]:
            _fail(
                "kit-input-expansion",
                kit,
                f"layer 0 has {qnet.layers[0].n_out} neurons taking input channels (limit {lim['input_expansion']})",
            )
        feeding = qnet.layers[-2].n_out
        if "output_expansion" in lim and feeding > lim["output_expansion"]:
            _fail(
                "kit-output-expansion",
                kit,
                f"layer {len(qnet.layers) - 2} has {feeding} neurons driving the readout "
                f"(limit {lim['output_expansion']})",
            )
    per_core = lim.get("neurons_per_core")
    layers: tuple[Any, ...] = qnet.layers  # quantized or planned layers: the same shape fields
    for i, L in enumerate(layers):
        if per_core is not None and L.n_out > per_core * lim.get("cores", 1):
            _fail("kit-cores", kit, f"layer {i} has {L.n_out} neurons (limit {per_core} x {lim.get('cores', 1)} cores)")


def rule_kit_widths(kit: Board, qnet: QuantNetwork) -> None:
    """Weight and state widths within the kit's."""
    if qnet.weight_bits > kit.limits["weight_bits"]:
        _fail("kit-weight-bits", kit, f"{qnet.weight_bits}-bit weights (limit {kit.limits['weight_bits']})")
    if qnet.state_bits > kit.limits["state_bits"]:
        _fail("kit-state-bits", kit, f"{qnet.state_bits}-bit states (limit {kit.limits['state_bits']})")


def rule_kit_cores(kit: Board, qnet: QuantNetwork | Plan) -> None:
    """Kits with per-core memories (Speck): one core per layer whose kernel, neuron and bias
    memories hold it (``kits.speck.assign_cores`` names the rule and the layer)."""
    if "core_memory" in kit.data:
        from edgesnn.kits.speck import assign_cores

        assign_cores(kit, qnet)


RULES = (rule_kit_dialect, rule_kit_layers, rule_kit_sizes, rule_kit_widths, rule_kit_cores)
#: The rules that read only shapes (a plan has no dialect or bit widths: training takes the kit's).
SHAPE_RULES = (rule_kit_layers, rule_kit_sizes, rule_kit_cores)


def check_kit_fits(kit: Board, qnet: QuantNetwork) -> None:
    """Run every kit rule; raise FitError naming the first broken one."""
    for rule in RULES:
        rule(kit, qnet)


def check_kit_plan(kit: Board, plan: Plan) -> None:
    """Run every shape rule on a planned network; raise FitError naming the first broken one."""
    for rule in SHAPE_RULES:
        rule(kit, plan)
