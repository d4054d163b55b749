"""Your own data: write a features .npz (scikit-learn's breast cancer set), look at it, train,
quantize, and check the generated firmware against the simulator.

    python examples/own_data.py
"""

import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

import edgesnn.api as es

bc = load_breast_cancer()
idx = np.random.default_rng(0).permutation(len(bc.target))
tr, te = idx[:427], idx[427:]
with tempfile.TemporaryDirectory() as tmp:
    data = Path(tmp) / "breast_cancer.npz"
    np.savez(data, x_train=bc.data[tr], y_train=bc.target[tr], x_test=bc.data[te], y_test=bc.target[te])
    print("data:", es.data_info(str(data)))
    t = es.train(str(data), Path(tmp) / "bc.nir", epochs=20, hidden=32)
    q = es.quantize(Path(tmp) / "bc.nir", Path(tmp) / "bc.qsnn")
    print(f"float accuracy {q['float_accuracy']:.2%}, integer accuracy {q['int_accuracy']:.2%}")
    v = es.verify(Path(tmp) / "bc.qsnn", "host", Path(tmp) / "build")
    print(
        f"firmware on the host: {v['samples']} samples, {v['values_compared']} values compared, "
        f"mismatches {v['mismatches']}"
    )
    assert v["mismatches"] == 0
