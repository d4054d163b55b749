"""A user's own test: hold the firmware generated for my model to edgesnn's golden simulator,
with the `edgesnn_firmware` fixture that edgesnn registers for pytest.

    pytest examples/test_my_firmware.py
"""

import numpy as np

from edgesnn.fixedpoint import quantize
from edgesnn.ir import LIF, CubaLIF, Dense, Network


def my_model():
    rng = np.random.default_rng(42)
    return quantize(
        Network(
            n_inputs=32,
            layers=(
                Dense(
                    rng.normal(0, 0.4, (24, 32)),
                    rng.normal(0, 0.05, 24),
                    CubaLIF(np.full(24, 0.8), np.full(24, 0.9), np.ones(24)),
                    recurrent=rng.normal(0, 0.2, (24, 24)),
                ),
                Dense(rng.normal(0, 0.4, (4, 24)), np.zeros(4), LIF(np.full(4, 0.9), np.ones(4))),
            ),
        )
    )


def test_firmware_equals_the_simulator_on_my_recordings(edgesnn_firmware):
    recordings = np.random.default_rng(0).random((12, 30, 32)) < 0.2  # stand-in for real sensor data
    counts = edgesnn_firmware.check(my_model(), recordings)
    assert counts["mismatched_values"] == 0
