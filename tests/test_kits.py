"""Chip dialects (fixedpoint.dialects): their integer rules, quantization-aware training equal to
the golden simulator in each dialect, the kits' fit rules, and the vendor simulators (XyloSim,
Lava's fixed-point models) spike for spike against the golden simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.errors import BoardError, FitError
from edgesnn.firmware.boards import all_boards, check_fits, get_board
from edgesnn.fixedpoint import dialects as D
from edgesnn.fixedpoint.quantize_kits import quantize_kit
from edgesnn.fixedpoint.simulate import simulate_int
from edgesnn.formats import qmodel
from edgesnn.kits.rules import check_kit_fits
from edgesnn.train.arch import LayerSpec
from edgesnn.train.kit_qat import KitNet, kit_network
from tests.toolchains import need_lava, need_modules

#: kits whose label says "bit-exact vs vendor simulator": the vendor tests below keep it true
VENDOR_CHECKED = {"xylo-imu", "xylo-audio2", "loihi2", "akida-akd1000"}
#: kits compared with the vendor's model of the chip (no chip simulator offline): Speck, Sinabs
MODEL_COMPARED = {"speck"}
#: kits edgesnn only exports for (no offline check exists)
EXPORT_ONLY = {"spinnaker2"}


def kit_model(dialect: str, gain: float, seed: int = 0, n_in: int = 12, hidden: int = 24, out: int = 5) -> KitNet:
    """A small recurrent KitNet with weights scaled by ``gain`` (large gains saturate Xylo's
    synaptic current part-way through a step, which the golden model replays in chip order)."""
    torch.manual_seed(seed)
    specs = [LayerSpec(units=hidden, n_syn=n_in, recurrent=True), LayerSpec(units=out, n_syn=hidden)]
    m = KitNet(specs, n_in, 0.8, 0.9, 1.0, dialect=dialect)
    with torch.no_grad():
        for fc in m.fcs:
            fc.weight.mul_(gain)
            fc.bias.uniform_(-0.05, 0.05)
    return m


def spikes(seed: int, n: int = 16, steps: int = 30, n_in: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).random((n, steps, n_in)) < 0.3


def test_xylo_rules_at_their_edges():
    x = np.array([-32768, -3, -1, 0, 1, 3, 7, 8, 32767])
    # x >> dash, and at least one LSB toward zero: negatives floor (never 0), small positives 1
    assert D.xylo_decay(x, 2).tolist() == [-8192, -1, -1, 0, 1, 1, 1, 2, 8191]
    assert D.xylo_decay(x, 0).tolist() == x.tolist()  # dash 0 clears the state
    assert D.xylo_wrap16(np.array([32768, 32767, -32768])).tolist() == [-32768, 32767, -32768]
    ones = np.array([1, 1])
    assert D.xylo_replay(32000, np.array([1000, -1000]), ones) == 31767  # saturating adds depend on order ...
    assert D.xylo_replay(32000, np.array([-1000, 1000]), ones) == 32000  # ... which the golden model replays
    # inputs ascending, each spike of a count in turn, then the recurrent sources
    assert D.xylo_replay(32000, np.array([500, 0]), np.array([2, 0]), np.array([-900]), np.array([1])) == 31867
    i = np.array([32000, 100])
    ok = D.xylo_deliver(i, np.array([1000, 50]), np.array([-1000, -50]))
    assert ok.tolist() == [False, True] and i.tolist() == [32000, 100]


def test_loihi_rules_at_their_edges():
    x = np.array([-4097, -1, 0, 1, 4097])
    assert D.loihi_decay(x, 2048).tolist() == [-2048, 0, 0, 0, 2048]  # rounds toward zero
    assert D.loihi_decay(x, 4096).tolist() == [0, 0, 0, 0, 0]
    m = 1 << 23
    assert D.loihi_wrap_u(np.array([m, m + 1, -m, -m - 1])).tolist() == [m, -m + 1, m, m - 1]
    mant, exp = D.loihi_bias_parts(np.array([4095, -4096, 8192, 300 << 7]))
    assert (mant << exp).tolist() == [4095, -4096, 8192, 300 << 7] and exp.max() <= 7
    with pytest.raises(ValueError, match=r"bias\[0\] = 4097"):
        D.loihi_bias_parts(np.array([4097]))
    assert D.loihi_bias_parts(D.loihi_bias_round(np.array([123457, -999999, 4097])))[1].max() <= 7


@pytest.mark.parametrize(("dialect", "gain"), [("xylo", 1.5), ("xylo", 6.0), ("loihi2", 1.5)])
def test_qat_forward_equals_the_golden_simulator_in_the_dialect(dialect, gain):
    """Every spike (Xylo: hidden spike counts, several per step) and the final membrane; at gain 6
    Xylo's saturating adds depend on their order in both layers, and the QAT forward replays them
    in the chip's order as the golden simulator does."""
    m = kit_model(dialect, gain=gain)
    x = spikes(1)
    out, v = m(torch.from_numpy(x))
    q = quantize_kit(kit_network(m), dialect)
    r = simulate_int(q, x, record=True)
    assert all(n > 0 for n in r.saturations) if gain > 2 else r.saturations == [0, 0]
    assert np.array_equal(out.detach().numpy().astype(np.int64), r.spikes.astype(np.int64))
    assert np.array_equal(v.detach().numpy().astype(np.int64), r.v_last)
    if dialect == "xylo":
        assert r.record[0]["spikes"].max() > 1  # the multi-spike path ran
    loss = out.sum()
    loss.backward()
    assert float(m.fcs[0].weight.grad.abs().sum()) > 0


def test_dialect_is_part_of_the_model_file_and_its_hash():
    m = kit_model("xylo", 1.0)
    q = quantize_kit(kit_network(m), "xylo")
    back = qmodel.from_bytes(qmodel.to_bytes(q))
    assert back.dialect == "xylo" and back.content_hash == q.content_hash
    import dataclasses

    with pytest.raises(ValueError, match="dialect loihi2, layer 0: weight magnitude"):
        dataclasses.replace(q, dialect="loihi2", state_bits=24)


def test_kit_rules_name_the_rule_kit_and_layer():
    kit = get_board("xylo-imu", kits=True)
    small = quantize_kit(kit_network(kit_model("xylo", 1.0)), "xylo")
    check_kit_fits(kit, small)
    wide = quantize_kit(kit_network(kit_model("xylo", 1.0, n_in=20)), "xylo")
    with pytest.raises(FitError, match="rule kit-inputs on kit xylo-imu: 20 input channels"):
        check_kit_fits(kit, wide)
    big = quantize_kit(kit_network(kit_model("xylo", 1.0, hidden=130)), "xylo")
    with pytest.raises(FitError, match="rule kit-input-expansion on kit xylo-imu: layer 0 has 130"):
        check_kit_fits(kit, big)
    lava = quantize_kit(kit_network(kit_model("loihi2", 1.0)), "loihi2")
    with pytest.raises(FitError, match="rule kit-dialect on kit xylo-imu: the model is quantized for loihi2"):
        check_kit_fits(kit, lava)
    with pytest.raises(FitError, match="rule dialect on board qemu-mps2-an385"):
        check_fits(get_board("qemu-mps2-an385"), small)
    with pytest.raises(BoardError, match="xylo-imu is a neuromorphic kit"):
        get_board("xylo-imu")


def test_boards_lists_the_kits_with_their_limits():
    import json

    res = CliRunner().invoke(app, ["boards", "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)["boards"]}
    assert rows["xylo-imu"]["kind"] == "kit" and rows["xylo-imu"]["limits"]["hidden"] == 496
    assert rows["loihi2"]["dialect"] == "loihi2"
    res = CliRunner().invoke(app, ["deploy", "nothing.qsnn", "--board", "xylo-imu"])
    assert res.exit_code != 0


def test_every_kit_label_is_kept_true_here():
    kits = {n: b.verified for n, b in all_boards().items() if b.is_kit}
    assert {n for n, v in kits.items() if v == "bit-exact vs vendor simulator"} == VENDOR_CHECKED
    assert {n for n, v in kits.items() if v == "compared with vendor model"} == MODEL_COMPARED
    assert {n for n, v in kits.items() if v == "export only"} == EXPORT_ONLY


@pytest.mark.parametrize(("kit", "gain"), [("xylo-imu", 1.5), ("xylo-imu", 3.0), ("xylo-audio2", 1.5)])
def test_xylosim_equals_the_golden_simulator(kit, gain):
    """XyloSim (rockpool 3.1 + xylosim 0.1.3) against the golden model: hidden spike counts,
    readout spikes and final readout membrane of every sample; gain 3 saturates the synaptic
    current part-way through steps, so the golden model's chip-order replay is checked too."""
    need_modules("rockpool", "xylosim", what="the XyloSim check")
    from edgesnn import kits

    q = quantize_kit(kit_network(kit_model("xylo", gain, out=5)), "xylo")
    x = spikes(2)
    res = kits.verify(q, get_board(kit, kits=True), x)
    assert res["mismatches"] == 0 and res["samples"] == 16, res
    if gain > 2:
        assert sum(simulate_int(q, x).saturations) > 0  # the replay path ran and matched


def test_lava_equals_the_golden_simulator(tmp_path):
    """Lava's fixed-point LIF/Dense models (lava-nc 0.10, its own Python 3.10 venv) against the
    golden model: every layer's spikes and the final readout membrane."""
    need_lava()
    from edgesnn import kits

    q = quantize_kit(kit_network(kit_model("loihi2", 3.0)), "loihi2")
    assert (q.layers[0].bias != 0).any()
    res = kits.verify(q, get_board("loihi2", kits=True), spikes(3, n=40))
    assert res["mismatches"] == 0 and res["samples"] == 40 and "lava-nc 0.10.0" in res["reference"], res
    out = kits.build(q, get_board("loihi2", kits=True), tmp_path)
    assert (tmp_path / "run_lava.py").is_file() and out["layers"][0]["du"] == q.layers[0].alpha_syn[0]


def test_akida_equals_the_golden_simulator(tmp_path):
    """akida 2.19's software backend against the golden model (stateless dialect): every layer's
    spikes at every step; the model maps onto a virtual AKD1000 with every layer in hardware, and
    a stateful model is refused naming why."""
    need_modules("akida", what="the Akida check")
    from edgesnn import kits
    from edgesnn.errors import QuantizationError
    from edgesnn.ir import LIF, Dense, Network

    rng = np.random.default_rng(4)
    layers = []
    for n_in, n in ((12, 20), (20, 5)):
        nrn = LIF(beta=np.zeros(n), threshold=np.full(n, 1.0))
        layers.append(Dense(weight=rng.normal(0, 0.6, (n, n_in)), bias=rng.normal(0, 0.1, n), neurons=nrn))
    net = Network(n_inputs=12, layers=tuple(layers))
    q = quantize_kit(net, "akida")
    assert q.dialect == "akida" and q.weight_bits == 4 and (q.layers[0].bias != 0).any()
    kit = get_board("akida-akd1000", kits=True)
    res = kits.verify(q, kit, spikes(5, n=30))
    assert res["mismatches"] == 0 and res["spikes_compared"] == 30 * 30 * 25, res
    assert kits.build(q, kit, tmp_path)["mapped"] == "AKD1000, hw_only=True" and (tmp_path / "model.fbz").is_file()
    leaky = Network(
        n_inputs=12,
        layers=(
            Dense(
                weight=layers[0].weight, bias=layers[0].bias, neurons=LIF(beta=np.full(20, 0.9), threshold=np.ones(20))
            ),
        ),
    )
    with pytest.raises(QuantizationError, match="layer 0: Akida is stateless"):
        quantize_kit(leaky, "akida")


def speck_net(seed: int = 0):
    """A float IAF network Speck takes: a 3x3 convolution, sum pooling, a dense readout."""
    from edgesnn.ir import LIF, Conv2d, Dense, Network
    from edgesnn.ir.geometry import ConvGeometry, Pool2d

    rng = np.random.default_rng(seed)
    g = ConvGeometry(in_shape=(2, 8, 8), out_channels=4, kernel=(3, 3), padding=(1, 1))
    conv = Conv2d(
        weight=rng.normal(0, 0.5, g.weight_shape),
        bias=rng.normal(0, 0.05, 4),
        neurons=LIF(beta=np.ones(g.n_out), threshold=np.ones(g.n_out)),
        conv=g,
    )
    pool = Pool2d("sum", (2, 2), (4, 8, 8))
    dense = Dense(
        weight=rng.normal(0, 0.3, (10, pool.n_out)),
        bias=rng.normal(0, 0.05, 10),
        neurons=LIF(beta=np.ones(10), threshold=np.ones(10)),
        pool=pool,
    )
    return Network(n_inputs=128, layers=(conv, dense))


def test_speck_equals_sinabs_and_its_discretisation(tmp_path):
    """Sinabs 3.1 (never samna): its DynapCNN discretisation of the float model gives exactly
    edgesnn's speck quantization, and its IAF layers holding those integers give every layer's
    spike counts (several per step) the golden simulator gives; the configuration places each
    layer on a core whose memories hold it."""
    need_modules("sinabs", what="the Speck check")
    from edgesnn import kits
    from edgesnn.kits import speck

    net = speck_net()
    q = quantize_kit(net, "speck")
    assert q.dialect == "speck" and speck.discretisation_agrees(net, q)
    kit = get_board("speck", kits=True)
    x = np.random.default_rng(6).random((12, 20, 128)) < 0.25
    res = kits.verify(q, kit, x)
    assert res["mismatches"] == 0 and res["samples"] == 12, res
    assert simulate_int(q, x, record=True).record[0]["spikes"].max() > 1  # multi-spike steps compared
    cfg = kits.build(q, kit, tmp_path)
    assert sorted(r["core"] for r in cfg["layers"]) == sorted(set(r["core"] for r in cfg["layers"]))
    assert cfg["layers"][0]["memory"] == {"kernel": 2 * 16 * 4, "neuron": 4 * 64, "bias": 4}


def test_speck_design_rules_name_the_layer():
    import dataclasses

    from edgesnn.ir.geometry import ConvGeometry

    kit = get_board("speck", kits=True)
    q = quantize_kit(speck_net(), "speck")
    g = ConvGeometry(in_shape=(2, 128, 128), out_channels=16, kernel=(3, 3), padding=(1, 1))
    big = dataclasses.replace(
        q.layers[0],
        weight=np.zeros(g.weight_shape, np.int64),
        conv=g,
        bias=np.zeros(g.n_out, np.int64),
        alpha_mem=np.full(g.n_out, 65536),
        threshold=np.full(g.n_out, 100),
        v_reset=np.full(g.n_out, -100),
    )
    net = dataclasses.replace(q, n_inputs=g.n_in, layers=(big,))
    from edgesnn.kits.rules import rule_kit_cores

    with pytest.raises(FitError, match="rule speck-core-memory on kit speck: layer 0 needs kernel 512, neuron 262144"):
        rule_kit_cores(kit, net)
    with pytest.raises(FitError, match="rule kit-outputs on kit speck: layer 0 has 262144 outputs"):
        check_kit_fits(kit, net)


def test_spinnaker2_exports_nir_and_says_no_offline_check_exists(tmp_path):
    """The NIR graph py-spinnaker2 reads (the float meaning, the integer model in its metadata);
    verify refuses in one line naming why."""
    import nir

    from edgesnn import kits
    from edgesnn.fixedpoint.quantize import quantize
    from edgesnn.formats.nir_import import import_graph, quantized_from_graph
    from edgesnn.ir import LIF, Dense, Network

    rng = np.random.default_rng(8)
    net = Network(
        n_inputs=6,
        layers=(
            Dense(
                weight=rng.normal(0, 0.5, (4, 6)),
                bias=np.zeros(4),
                neurons=LIF(beta=np.full(4, 0.9), threshold=np.ones(4)),
            ),
        ),
    )
    q = quantize(net)
    kit = get_board("spinnaker2", kits=True)
    res = kits.build(q, kit, tmp_path)
    assert "no offline check is possible" in res["check"]
    graph = nir.read(str(tmp_path / "spinnaker2.nir"))
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"Input", "Affine", "LIF", "Output"}
    assert quantized_from_graph(graph, "x").content_hash == q.content_hash
    assert import_graph(graph)[0].n_inputs == 6
    with pytest.raises(BoardError, match="kit spinnaker2: no offline check is possible"):
        kits.verify(q, kit, spikes(1, n=2, n_in=6))


def test_speck_and_akida_qat_equal_the_golden_simulator():
    """Speck (dense layers, Sinabs' discretisation and IAF with several spikes a step) and Akida
    (edgesnn's QAT with beta 0 and 4-bit weights) train as the golden simulator computes."""
    from edgesnn.fixedpoint import quantize
    from edgesnn.train.loop import TrainConfig, to_network
    from edgesnn.train.snn import SpikingNet

    torch.manual_seed(3)
    specs = [LayerSpec(units=24, n_syn=12), LayerSpec(units=5, n_syn=24)]
    m = KitNet(specs, 12, 0.0, 1.0, 1.0, dialect="speck")
    with torch.no_grad():
        for fc in m.fcs:
            fc.weight.mul_(4.0)
    x = spikes(7)
    out, v = m(torch.from_numpy(x))
    q = quantize_kit(kit_network(m), "speck")
    r = simulate_int(q, x, record=True)
    assert np.array_equal(out.detach().numpy().astype(np.int64), r.spikes) and np.array_equal(
        v.detach().numpy(), r.v_last
    )
    assert r.record[0]["spikes"].max() > 1 and out.sum() > 0
    out.sum().backward()
    assert float(m.fcs[0].weight.grad.abs().sum()) > 0

    cfg = TrainConfig(beta=0.0, weight_bits=4)
    a = SpikingNet(specs, 12, 0.0, 1.0, qat={"weight_bits": 4, "state_bits": 24, "per_channel": True})
    with torch.no_grad():
        for fc in a.fcs:
            fc.weight.mul_(3.0)
        out, v = a(torch.from_numpy(x).float())
    qa = quantize_kit(to_network(a, cfg, 12), "akida")
    ra = simulate_int(qa, x)
    assert qa.dialect == "akida" and out.sum() > 0 and np.array_equal(out.numpy().astype(bool), ra.spikes)
    assert qa.content_hash != quantize(to_network(a, cfg, 12), weight_bits=4).content_hash  # the dialect is hashed


@pytest.mark.parametrize(
    ("kit", "train_args"),
    [
        ("xylo-imu", ["--dataset", "digits-rows", "--hidden", "16", "--board", "xylo-imu"]),
        ("loihi2", ["--dataset", "digits-rows", "--hidden", "16", "--board", "loihi2"]),
        ("akida-akd1000", ["--dataset", "digits", "--hidden", "16", "--beta", "0", "--weight-bits", "4"]),
        ("speck", ["--dataset", "digits", "--hidden", "16", "--board", "speck"]),
        ("spinnaker2", ["--dataset", "digits", "--hidden", "16"]),
    ],
)
def test_kit_commands_end_to_end(kit, train_args, tmp_path):
    """train, quantize, build and verify with --board KIT, as docs/kits.md shows them."""
    import json

    module = {"xylo-imu": "xylosim", "akida-akd1000": "akida", "speck": "sinabs"}.get(kit)
    if module:
        need_modules(module, what=f"the {kit} commands")
    if kit == "loihi2":
        need_lava()
    nir_path, q, out = tmp_path / "m.nir", tmp_path / "m.qsnn", tmp_path / "build"
    run = CliRunner().invoke
    res = run(app, ["train", *train_args, "--epochs", "1", "--out", str(nir_path), "--json"])
    assert res.exit_code == 0, res.output
    res = run(app, ["quantize", str(nir_path), "--board", kit, "--out", str(q), "--json"])
    assert res.exit_code == 0, res.output
    quant = json.loads(res.stdout)
    assert quant["dialect"] == {"spinnaker2": "edgesnn", "akida-akd1000": "akida", "xylo-imu": "xylo"}.get(kit, kit)
    if kit == "speck":
        assert quant["sinabs_discretisation"] == "equal"
    res = run(app, ["build", str(q), "--board", kit, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert all(Path(f).is_file() for f in json.loads(res.stdout)["files"])
    res = run(app, ["verify", str(q), "--board", kit, "--limit", "8", "--json"])
    if kit == "spinnaker2":
        assert res.exit_code == 1 and "no offline check is possible" in res.stderr
        return
    assert res.exit_code == 0, res.output
    ver = json.loads(res.stdout)
    assert ver["mismatches"] == 0 and ver["samples"] == 8 and "reference_accuracy" in ver


#: what `train --board KIT` with its defaults gives: None (a model the kit accepts) or the rule
#: that refuses it before the first epoch
DEFAULTS_GIVE = {
    "xylo-imu": None,
    "xylo-audio2": None,  # spoken-commands kept to 8 classes (data.subset), its 16 front-end channels
    "loihi2": None,
    "akida-akd1000": None,
    "speck": None,
    "spinnaker2": None,
}


#: Kits whose default network takes minutes of CPU per epoch in the chip's arithmetic (Xylo Audio 2's
#: rnn 128 on spoken-commands: 575 s here): the defaults are held to the kit's rules before training,
#: then one epoch trains at this hidden size with every other default
QUICK_HIDDEN = {"xylo-audio2": 16}


def test_every_kit_has_its_defaults_case():
    assert set(DEFAULTS_GIVE) == {n for n, b in all_boards().items() if b.is_kit}


@pytest.mark.parametrize("kit", sorted(DEFAULTS_GIVE))
def test_train_with_a_kits_defaults_fits_or_is_refused_before_training(kit, tmp_path):
    """`edgesnn train --board KIT` and nothing else (one epoch: the shapes are the defaults'):
    quantize --board KIT accepts the model, or training is refused before its first epoch with
    the rule and the fix named."""
    import json

    run = CliRunner().invoke
    if DEFAULTS_GIVE[kit] is not None:
        from edgesnn.api import train

        started: list = []
        with pytest.raises(FitError, match=f"rule {DEFAULTS_GIVE[kit]} on kit {kit}.*before training\\); fix: "):
            train(board=kit, epochs=1, progress=started.append)
        assert started == []  # refused before the first epoch
        return
    table = get_board(kit, kits=True).get("train") or {}  # every default the kit's table gives is the one used
    expected = {k: table[k] for k in ("dataset", "model", "hidden", "beta", "weight_bits") if k in table}
    smaller = []
    if kit in QUICK_HIDDEN:
        from edgesnn.api import train

        class Ready(Exception):
            pass

        def at_epoch_0(event):  # called once the data is ready, after the kit's rules passed
            raise Ready(event)

        with pytest.raises(Ready):  # the defaults (hidden included) pass the kit's rules before training
            train(board=kit, epochs=1, progress=at_epoch_0)
        smaller = ["--hidden", str(QUICK_HIDDEN[kit])]
        expected.pop("hidden")
    res = run(app, ["train", "--board", kit, "--epochs", "1", *smaller, "--out", str(tmp_path / "m.nir"), "--json"])
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    assert trained["kit_defaults"] == expected
    res = run(app, ["quantize", str(tmp_path / "m.nir"), "--board", kit, "--out", str(tmp_path / "m.qsnn"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"].endswith("m.qsnn")


def test_a_kit_refusal_names_the_largest_hidden_size_that_fits():
    from edgesnn.api import train

    with pytest.raises(
        FitError, match=r"rule kit-input-expansion on kit xylo-imu: layer 0 has 300 .*fix: hidden 128 or fewer"
    ):
        train(board="xylo-imu", hidden=300, epochs=1)
    with pytest.raises(
        FitError, match=r"rule kit-inputs on kit xylo-imu: 64 input channels .*the built-in digits-rows"
    ):
        train("digits", board="xylo-imu", epochs=1)
    with pytest.raises(
        FitError,
        match=r"rule kit-outputs on kit xylo-audio2: .*fix: a dataset with at most 8 classes: .*digits-rows:classes=",
    ):
        train("digits-rows", board="xylo-audio2", epochs=1)
    res = CliRunner().invoke(app, ["train", "--dataset", "digits-rows", "--board", "xylo-audio2", "--epochs", "1"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and "fix: a --dataset with at most 8" in res.stderr
    with pytest.raises(FitError, match=r"rule speck-core-memory on kit speck: .*fix: hidden 1024 or fewer"):
        train(board="speck", hidden=5000, epochs=1)
