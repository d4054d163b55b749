"""Properties of the integer contract on random small networks (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint import simulate_int
from tests import reference
from tests.strategies import quant_networks, spike_inputs
from tests.toolchains import import_or_skip, need_tools


@given(st.integers(-(2**40), 2**40), st.integers(0, 20))
def test_rounding_is_round_half_up(x, s):
    got = int(C.rshift_round_half_up(np.array([x], np.int64), s)[0])
    # exact rational reference: nearest integer to x / 2^s, ties toward +inf
    import math
    from fractions import Fraction

    assert got == math.floor(Fraction(x, 2**s) + Fraction(1, 2))


def test_rounding_ties_go_up_for_negative_values():
    x = np.array([-3, -2, -1, 1, 2, 3], np.int64)  # /2: -1.5 -1 -0.5 0.5 1 1.5
    assert C.rshift_round_half_up(x, 1).tolist() == [-1, -1, 0, 1, 1, 2]


def test_decay_of_one_is_identity():
    v = np.array([-(2**31), -5, 0, 7, 2**31 - 1], np.int64)
    assert np.array_equal(C.decay(v, np.full(5, C.DECAY_ONE)), v)


@given(st.integers(8, 32), st.integers(-(2**50), 2**50))
def test_saturation_clamps_and_never_wraps(bits, x):
    lo, hi = C.state_limits(bits)
    got = int(C.saturate(np.array([x], np.int64), bits)[0])
    assert got == min(max(x, lo), hi)


BACKENDS = ["numpy", "c", "numba", "torch"]


def _need(backend):
    if backend == "c":
        need_tools("cc", what="the C host kernel")
    if backend == "numba":
        import_or_skip("numba")
    if backend == "torch":
        import_or_skip("torch")


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_simulator_equals_naive_reference(backend, data):
    """Every spike and every state of every layer equals an independent Python-int model."""
    _need(backend)
    qnet = data.draw(quant_networks())
    x = data.draw(spike_inputs(qnet.n_inputs))
    sim = simulate_int(qnet, x, record=True, backend=backend)
    ref = reference.run(qnet, x)
    for li, (rec, (z, v, i)) in enumerate(zip(sim.record, ref)):
        assert np.array_equal(rec["spikes"], np.array(z, bool)), f"spikes of layer {li}"
        assert np.array_equal(rec["v"], np.array(v, np.int64)), f"v of layer {li}"
        if qnet.layers[li].current_based:
            assert np.array_equal(rec["i"], np.array(i, np.int64)), f"i of layer {li}"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_states_stay_in_range(data):
    qnet = data.draw(quant_networks())
    x = data.draw(spike_inputs(qnet.n_inputs))
    lo, hi = C.state_limits(qnet.state_bits)
    for rec in simulate_int(qnet, x, record=True).record:
        for key in ("v", "i"):
            if key in rec:
                assert rec[key].min() >= lo and rec[key].max() <= hi


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_reset_and_threshold_as_documented(data):
    """A spike iff v (before reset) > threshold; after a spike v is v - threshold or v_reset."""
    qnet = data.draw(quant_networks(max_layers=1))
    L = qnet.layers[0]
    x = data.draw(spike_inputs(qnet.n_inputs))
    rec = simulate_int(qnet, x, record=True).record[0]
    z, v = rec["spikes"], rec["v"]
    lo, hi = C.state_limits(qnet.state_bits)
    # recompute the pre-reset membrane from the recorded previous state
    acc = x.astype(np.int64) @ L.weight.T
    prev_v = np.concatenate([np.zeros_like(v[:, :1]), v[:, :-1]], axis=1)
    prev_z = np.concatenate([np.zeros_like(z[:, :1]), z[:, :-1]], axis=1)
    if L.recurrent is not None:
        acc = acc + prev_z.astype(np.int64) @ L.recurrent.T
    drive = (acc << L.shift) + L.bias
    if L.current_based:
        drive = rec["i"]
    pre = np.clip(C.decay(prev_v, L.alpha_mem) + drive, lo, hi)
    assert np.array_equal(z, pre > L.threshold)
    expected_after = (
        np.clip(pre - L.threshold, lo, hi) if L.reset == "subtract" else np.broadcast_to(L.v_reset, pre.shape)
    )
    assert np.array_equal(v[z], expected_after[z])
    assert np.array_equal(v[~z], pre[~z])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_batch_equals_one_by_one(data):
    qnet = data.draw(quant_networks())
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=5))
    batch = simulate_int(qnet, x, record=True)
    for n in range(x.shape[0]):
        one = simulate_int(qnet, x[n : n + 1], record=True)
        assert one.prediction[0] == batch.prediction[n]
        assert one.synops[0] == batch.synops[n]
        for a, b in zip(one.record, batch.record):
            for key in a:
                assert np.array_equal(a[key][0], b[key][n])


def test_prediction_tie_breaks_on_membrane_then_index():
    counts = np.array([[3, 5, 5, 1], [2, 2, 2, 2]])
    v = np.array([[9, 4, 7, 0], [1, 5, 5, -3]])
    assert C.predict_from_counts(counts, v).tolist() == [2, 1]


def test_choose_shift_keeps_peak_in_range():
    for bits in (8, 16, 24, 32):
        for peak in (1, 3.5, 100, 1e5):
            s = C.choose_shift(peak, bits, 8.0)
            hi = C.state_limits(bits)[1]
            assert s == C.MAX_SHIFT or peak * 8 * 2 ** (s + 1) > hi
            assert s == 0 or peak * 8 * 2**s <= hi


@pytest.mark.parametrize("backend", ["c", "numba", "torch"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_backends_agree_on_wider_networks_and_batches(backend, data):
    """Large enough for torch's int8 GEMM (> 16 rows) and numba's int16 partial sums (> 256 inputs)."""
    _need(backend)
    qnet = data.draw(quant_networks(max_layers=2, max_width=300))
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=24, max_steps=6))
    a = simulate_int(qnet, x, record=True, count_saturation=True, backend="numpy")
    b = simulate_int(qnet, x, record=True, count_saturation=True, backend=backend)
    assert np.array_equal(a.prediction, b.prediction) and np.array_equal(a.synops, b.synops)
    assert a.saturations == b.saturations  # states at a limit after the clamp, in every backend
    for ra, rb in zip(a.record, b.record):
        for key in ra:
            assert np.array_equal(ra[key], rb[key]), key


def test_c_kernel_without_avx512_equals_numpy(tmp_path):
    """host_kernel.c's portable paths (vector extension conversions instead of AVX-512 widening)
    built for x86-64-v3 (AVX2) hold every spike and state to the numpy backend too, on widths
    that leave partial vector tiles and inputs not a multiple of 8."""
    import platform

    from edgesnn.fixedpoint import host_kernel
    from edgesnn.fixedpoint.simulate import _IntKernel, _loop_layer

    need_tools("cc", what="the C host kernel")
    if platform.machine() != "x86_64":
        pytest.skip("the AVX2 build is an x86-64 check")
    so = tmp_path / "host_kernel_v3.so"
    host_kernel.compile_library(so, "x86-64-v3")
    lib = host_kernel.load_library(so)
    rng = np.random.default_rng(11)
    for n_in, n_out in ((13, 10), (300, 77), (64, 300)):
        from edgesnn.fixedpoint import quantize
        from edgesnn.ir import LIF, Dense, Network

        w = rng.normal(0, 2 / np.sqrt(n_in), (n_out, n_in))
        q = quantize(
            Network(n_inputs=n_in, layers=(Dense(w, np.zeros(n_out), LIF(np.full(n_out, 0.9), np.ones(n_out))),))
        )
        L = q.layers[0]
        x = rng.random((9, 7, n_in)) < 0.4
        got = host_kernel.run_layer(L, x, q.state_bits, True, lib=lib)
        want = _loop_layer(_IntKernel(L, q.state_bits, q.weight_bits, "numpy"), x, True, True)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[4] == want[4]
        assert np.array_equal(got[5], x.sum(axis=(1, 2)) * n_out)  # synaptic events, counted by the kernel


def test_c_kernel_32_bit_update_at_its_bound():
    """host_kernel.c updates a layer in int32 lanes only when no sum before the clamp can leave
    int32: at the bound (2**23 + 254 * 2**23 + bias = 2**31 - 1) it does, and matches numpy with
    every input on (the largest drive, the state pinned at its limit); one more unit of weight
    sends the layer to the 64-bit update, which matches too."""
    from edgesnn.fixedpoint import host_kernel
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    need_tools("cc", what="the C host kernel")
    hi = C.state_limits(24)[1]
    for weights, fits in (([127, 127], True), ([127, 127, 1], False), ([-127, -127], True)):
        bias = hi if weights[0] > 0 else -hi
        layer = QuantLayer(
            weight=np.array([weights, weights]),
            bias=np.array([bias, bias]),
            shift=23,
            alpha_mem=np.array([65536, 40000]),
            threshold=np.array([hi, 5]),
        )
        q = QuantNetwork(n_inputs=len(weights), layers=(layer,), weight_bits=8, state_bits=24)
        assert host_kernel.fits_int32(layer, 24) is fits
        x = np.ones((2, 6, len(weights)), bool)
        x[1, ::2] = False
        a = simulate_int(q, x, record=True, count_saturation=True, backend="numpy")
        b = simulate_int(q, x, record=True, backend="c")
        assert a.saturations[0] > 0  # the state reached its limit
        assert np.array_equal(a.record[0]["v"], b.record[0]["v"]) and np.array_equal(a.spikes, b.spikes)
        assert np.array_equal(a.synops, b.synops) and a.saturations == b.saturations


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_long_inputs_stream_through_the_compiled_kernels_in_batches(backend):
    """Past STREAM_SAMPLES samples the compiled backends run batch by batch through every layer;
    the joined result is the numpy backend's, field by field."""
    from edgesnn.fixedpoint import quantize
    from edgesnn.fixedpoint.simulate import STREAM_SAMPLES
    from edgesnn.ir import LIF, Dense, Network

    _need(backend)
    rng = np.random.default_rng(12)
    layers = []
    for a, b in ((20, 24), (24, 5)):
        layers.append(Dense(rng.normal(0, 2 / np.sqrt(a), (b, a)), np.zeros(b), LIF(np.full(b, 0.9), np.ones(b))))
    q = quantize(Network(n_inputs=20, layers=tuple(layers)))
    x = rng.random((STREAM_SAMPLES * 2 + 37, 6, 20)) < 0.3
    a, b = simulate_int(q, x, backend="numpy"), simulate_int(q, x, backend=backend)
    for field in ("spikes", "counts", "v_last", "prediction", "synops"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.neuron_updates == b.neuron_updates and a.saturations == b.saturations


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint32, np.float32, np.float64, np.bool_])
def test_input_check_takes_exact_zeros_and_ones_of_every_numeric_dtype(dtype):
    from edgesnn.errors import DatasetError
    from edgesnn.fixedpoint.simulate import check_inputs

    good = (np.random.default_rng(0).random((3, 4, 5)) < 0.4).astype(dtype)
    out = check_inputs(good, 5)
    assert out.dtype == np.bool_ and np.array_equal(out, good.astype(bool))
    bad_values = [2] + ([-1] if np.issubdtype(dtype, np.signedinteger) or dtype in (np.float32, np.float64) else [])
    bad_values += [0.5, np.nan] if dtype in (np.float32, np.float64) else []
    for bad in [] if dtype == np.bool_ else bad_values:
        x = good.copy()
        x[1, 2, 3] = bad
        with pytest.raises(DatasetError, match="must be 0 or 1"):
            check_inputs(x, 5)
    # a strided view is copied, not refused
    assert np.array_equal(check_inputs(good[:, :, ::-1], 5), good[:, :, ::-1].astype(bool))


@pytest.mark.parametrize("form", ["diagonal", "sparse", "dense"])
@pytest.mark.parametrize("reset", ["subtract", "to_value"])
def test_c_kernel_recurrent_forms_equal_numpy(form, reset):
    """host_kernel.py hands recurrent weights to the C kernel as a diagonal (snnTorch's undecayed
    subtract reset imports so), as compressed rows (mostly zero) or dense: each form holds every
    spike, state, saturation and synaptic-event count to the numpy backend, in the 32-bit update
    (subtract) and the general one (reset to a value)."""
    from edgesnn.fixedpoint import host_kernel
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    need_tools("cc", what="the C host kernel")
    rng = np.random.default_rng({"diagonal": 1, "sparse": 2, "dense": 3}[form])
    n_in, n_out = 70, 37
    r = rng.integers(-90, 90, (n_out, n_out))
    if form == "diagonal":
        r = np.diag(rng.integers(-120, -1, n_out))
    elif form == "sparse":
        r = r * (rng.random((n_out, n_out)) < 0.08)
    layer = QuantLayer(
        weight=rng.integers(-127, 128, (n_out, n_in)),
        bias=rng.integers(-50, 50, n_out),
        shift=6,
        alpha_mem=np.full(n_out, 58982),
        threshold=rng.integers(2000, 9000, n_out),
        reset=reset,
        v_reset=np.zeros(n_out, np.int64),
        recurrent=r,
    )
    q = QuantNetwork(n_inputs=n_in, layers=(layer,), weight_bits=8, state_bits=24)
    p = host_kernel.Prepared(layer, 24)
    chosen = {"diagonal": p.r_diag, "sparse": p.r_ptr, "dense": p.r_t}[form]
    assert chosen is not None  # the form under test is the one the kernel gets
    x = rng.random((11, 30, n_in)) < 0.3
    a = simulate_int(q, x, record=True, count_saturation=True, backend="numpy")
    b = simulate_int(q, x, record=True, count_saturation=True, backend="c")
    assert a.spikes.any() and not a.spikes.all()
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v_last, b.v_last)
    assert np.array_equal(a.synops, b.synops) and a.saturations == b.saturations
    for ra, rb in zip(a.record, b.record):
        for key in ra:
            assert np.array_equal(ra[key], rb[key]), key
