"""Continuous inference, the decision rule and detection scoring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesnn.data.scoring import match, score
from edgesnn.fixedpoint import decision as D
from edgesnn.fixedpoint.continuous import StreamRunner
from edgesnn.fixedpoint.simulate import simulate_int
from tests.strategies import quant_networks


@settings(max_examples=40, deadline=None)
@given(qnet=quant_networks(), seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(1, 9), min_size=1, max_size=4))
def test_chunks_equal_one_run_and_simulate(qnet, seed, cuts):
    """From zero state one chunk is simulate_int's single sample, and any chunking gives the
    same spikes, states and synaptic events."""
    rng = np.random.default_rng(seed)
    T = 20
    x = rng.random((T, qnet.n_inputs)) < 0.3
    whole = StreamRunner(qnet).run(x, record=True)
    sim = simulate_int(qnet, x[None], record=True, backend="numpy")
    assert np.array_equal(whole.spikes, sim.spikes[0])
    assert whole.synops == int(sim.synops[0])
    for a, b in zip(whole.record, sim.recorded()):
        for key in a:
            assert np.array_equal(a[key], b[key][0]), key
    runner = StreamRunner(qnet)
    bounds = np.cumsum([0, *cuts])
    bounds = [int(b) for b in bounds if b < T] + [T]
    parts = [runner.run(x[a:b], record=True) for a, b in zip(bounds[:-1], bounds[1:])]
    assert np.array_equal(np.concatenate([p.spikes for p in parts]), whole.spikes)
    assert sum(p.synops for p in parts) == whole.synops
    for li in range(len(qnet.layers)):
        for key in whole.record[li]:
            assert np.array_equal(np.concatenate([p.record[li][key] for p in parts]), whole.record[li][key])


def scalar_rule(rule: D.DecisionRule, z: np.ndarray) -> list[tuple[int, int]]:
    """The decision rule written out step by step, as the docstring (and the C) says."""
    a = [0] * z.shape[1]
    cool, out = 0, []
    for t in range(z.shape[0]):
        a = [ak - (ak >> rule.decay_shift) + (int(zk) << D.GAIN_SHIFT) for ak, zk in zip(a, z[t])]
        lead = max(range(len(a)), key=lambda k: (a[k], -k))
        second = max((a[k] for k in range(len(a)) if k != lead), default=0)
        if cool > 0:
            cool -= 1
        elif lead != rule.background and a[lead] >= rule.threshold and a[lead] - second >= rule.margin:
            out.append((t, lead))
            cool = rule.refractory
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 8),
    thr=st.integers(1, 600),
    margin=st.integers(0, 300),
    refractory=st.integers(0, 12),
    n=st.integers(1, 5),
    cut=st.integers(1, 60),
)
def test_decision_rule_matches_scalar_model_in_chunks(seed, d, thr, margin, refractory, n, cut):
    rng = np.random.default_rng(seed)
    z = rng.random((60, n)) < rng.uniform(0.05, 0.9)
    rule = D.DecisionRule(d, min(thr, 1 << (8 + d)), margin, refractory, background=n - 1 if n > 2 else -1)
    want = scalar_rule(rule, z)
    s1, c1, st1 = D.run(rule, z[:cut])
    s2, c2, _ = D.run(rule, z[cut:], st1)
    got = list(zip(np.concatenate([s1, s2 + cut]).tolist(), np.concatenate([c1, c2]).tolist()))
    assert got == want


def test_decision_rule_rejects_bad_values():
    with pytest.raises(ValueError, match="decay_shift"):
        D.DecisionRule(decay_shift=0)
    with pytest.raises(ValueError, match="threshold"):
        D.DecisionRule(decay_shift=2, threshold=5000)
    with pytest.raises(ValueError, match="refractory"):
        D.DecisionRule(refractory=-1)


def test_scoring_rule_as_documented():
    seg = np.array([[0, 1000, 1], [5000, 6000, 2], [10_000, 11_000, 0]])
    # hit (latency 200), second detection in window -> FA, wrong class first -> miss + FA,
    # right class after a wrong first -> FA, detection outside every window -> FA
    t = np.array([200, 400, 5100, 5200, 8000, 10_900])
    c = np.array([1, 1, 0, 2, 1, 0])
    hit, lat = match(seg, t, c, tolerance_us=500)
    assert hit.tolist() == [0, -1, 5] and lat.tolist() == [200, -1, 900]
    r = score(seg, t, c, duration_us=3_600_000_000, n_classes=3, tolerance_ms=0.5)
    assert r["detection_accuracy"] == pytest.approx(2 / 3)
    assert r["false_alarms"] == 4 and r["false_alarms_per_hour"] == pytest.approx(4.0)
    assert r["latency_ms_median"] == pytest.approx(0.55)
    assert r["per_class"]["2"]["hits"] == 0 and r["per_class"]["0"]["false_alarms"] == 1
    # the tolerance extends the window past the offset
    assert match(seg, np.array([1400]), np.array([1]), 500)[0].tolist() == [0, -1, -1]
    assert match(seg, np.array([1600]), np.array([1]), 500)[0].tolist() == [-1, -1, -1]


def test_fit_finds_a_rule_that_scores():
    rng = np.random.default_rng(0)
    z = rng.random((400, 3)) < 0.02
    z[100:130, 1] = True  # a burst of class 1
    z[300:330, 0] = True

    def sc(steps, classes):
        return (
            float(((steps >= 100) & (steps < 140) & (classes == 1)).any())
            + float(((steps >= 300) & (steps < 340) & (classes == 0)).any())
            - 0.1 * len(steps)
        )

    rule, best = D.fit(z, sc, background=2)
    s, c, _ = D.run(rule, z)
    assert best == pytest.approx(1.8) and sorted(c.tolist()) == [0, 1]
