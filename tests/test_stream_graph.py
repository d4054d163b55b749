"""Graphs in continuous inference: the stream golden model of a graph (skips, a SEW gate)
equals the whole-recording simulator on every spike and state whatever the chunking, and a
graph trained on a stream runs on the host board and qemu-mps2-an385 with 0 mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.fixedpoint.continuous import StreamRunner
from tests import toolchains
from tests.test_graph import _random_graph
from tests.test_sew_firmware import sew_net
from tests.test_sew_gates import gated_graph
from tests.test_streams import host_stream_equals_simulate, make_spikes_stream


@pytest.mark.parametrize(
    "net, n_in",
    [
        (gated_graph(3, 4, 3, True), 6),
        (_random_graph(5, 4, 4, True), 6),  # forward, self and backward edges, CUBA layers
        (sew_net(3, ("iand", "add", "or"), 3, 6), 36),
    ],
    ids=["gated", "random", "sew-resnet"],
)
def test_a_graph_streams_as_it_simulates_whatever_the_chunks(net, n_in):
    q = quantize(net, weight_bits=6, state_bits=16)
    x = np.random.default_rng(1).random((1, 40, n_in)) < 0.3
    x[:, 15:30] = False  # a silence: idle skipping's counts carry across chunks too
    sim = simulate_int(q, x, record=True)
    r = StreamRunner(q)
    parts = [r.run(x[0, a:b], record=True) for a, b in [(0, 7), (7, 8), (8, 25), (25, 40)]]
    for li, want in enumerate(sim.recorded()):
        for key in ("spikes", "v", "i"):
            if key in want:
                got = np.concatenate([p.record[li][key] for p in parts])
                assert np.array_equal(got, want[key][0]), (li, key)
    assert sum(p.synops for p in parts) == int(sim.synops[0]) > 0
    assert sum(p.neuron_updates for p in parts) == int(sim.membrane_updates[0])


GRAPH = """
[[layer]]
type = "dense"
units = 24

[[layer]]
type = "dense"
units = 24
inputs = ["h1", "input"]
sew = "or"
sew_with = "h1"

[[layer]]
type = "dense"
units = "classes"
inputs = ["h2", "h1"]
"""


@pytest.fixture(scope="module")
def graph_stream_model(tmp_path_factory):
    pytest.importorskip("torch")
    import edgesnn.api as es

    d = tmp_path_factory.mktemp("gstream")
    data = str(make_spikes_stream(d / "s.npz"))
    (d / "g.toml").write_text(GRAPH)
    es.train(data, d / "m.nir", epochs=6, model=str(d / "g.toml"), seed=0)
    q = es.quantize(d / "m.nir", d / "m.qsnn")
    return d / "m.qsnn", q


def test_a_graph_trained_on_a_stream_detects_and_streams_bit_exactly(graph_stream_model, tmp_path):
    qpath, q = graph_stream_model
    assert q["graph_connections"] == 2 and q["sew_gates"] == [{"layer": 1, "source": 0, "op": "or"}]
    assert q["stream_test"]["detection_accuracy"] > 0.5
    host_stream_equals_simulate(qpath, tmp_path / "b")


@pytest.mark.device
def test_a_graph_streams_on_qemu_an385(graph_stream_model, tmp_path):
    toolchains.need_tools("arm-none-eabi-gcc", "qemu-system-arm", what="qemu-mps2-an385")
    from edgesnn.api import stream_device

    s = stream_device.stream_recording(graph_stream_model[0], board="qemu-mps2-an385", out=tmp_path / "q", seconds=8)
    assert s["complete"] and s["mismatches"] == 0 and s["timesteps"] == 800
