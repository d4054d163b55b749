"""Model files: round trips, versioning, corrupt and foreign files."""

import numpy as np
import pytest

from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint import quantize, simulate
from edgesnn.formats import load_model, qmodel, save_model
from tests.test_ir_quantize import small_net


def test_float_model_round_trips_through_nir(tmp_path):
    net = small_net()
    p = save_model(net, tmp_path / "m.nir")
    back = load_model(p)
    x = np.random.default_rng(0).random((3, 12, 6)) < 0.5
    for la, lb in zip(net.layers, back.layers):  # the tables come back exactly, not just close
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.bias, lb.bias)
    a, b = simulate(net, x, record=True), simulate(back, x, record=True)
    for ra, rb in zip(a.record, b.record):
        assert np.array_equal(ra["v"], rb["v"]) and np.array_equal(ra["spikes"], rb["spikes"])
    import nir

    g = nir.read(str(p))  # a plain NIR reader sees a normal graph
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Input", "Affine", "CubaLIF", "LIF", "Output", "Linear"}


def test_quantized_model_round_trips_with_hash(tmp_path):
    q = quantize(small_net())
    back = load_model(save_model(q, tmp_path / "m.qsnn"))
    assert back.content_hash == q.content_hash
    for a, b in zip(q.layers, back.layers):
        assert np.array_equal(a.weight, b.weight) and a.shift == b.shift


def test_hash_changes_with_any_table():
    q = quantize(small_net())
    L = q.layers[1]
    from dataclasses import replace

    t = L.threshold.copy()
    t[0] += 1
    q2 = replace(q, layers=(q.layers[0], replace(L, threshold=t)))
    assert q2.content_hash != q.content_hash


def test_edited_tables_are_refused(tmp_path):
    q = quantize(small_net())
    arrays = dict(np.load(__import__("io").BytesIO(qmodel.to_bytes(q))))
    arrays["l0.threshold"] = arrays["l0.threshold"] + 1
    with open(tmp_path / "bad.qsnn", "wb") as f:  # np.savez would append ".npz" to a path
        np.savez(f, **arrays)
    with pytest.raises(ModelFileError, match="content hash mismatch"):
        load_model(tmp_path / "bad.qsnn")


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "not an edgesnn model"),
        (b"hello world", "not an edgesnn model"),
        (b"PK\x03\x04garbage", "corrupt quantized model"),
        (b"\x89HDF\r\n\x1a\ntruncated", "corrupt NIR file"),
    ],
)
def test_corrupt_files_name_the_cause(tmp_path, content, match):
    p = tmp_path / "m"
    p.write_bytes(content)
    with pytest.raises(ModelFileError, match=match):
        load_model(p)


def test_missing_file():
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model("/nonexistent/m.nir")


def test_truncated_quantized_file(tmp_path):
    data = qmodel.to_bytes(quantize(small_net()))
    p = tmp_path / "t.qsnn"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(p)
