"""The data-file decoder never fails with anything but a one-line DatasetError, whatever the
file holds: random keys, dtypes, shapes, values, and random bytes."""

import io
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.data.datasets import open_dataset
from edgesnn.data.npzfile import EVENT_DTYPE, read_data_file
from edgesnn.errors import DatasetError

KEYS = [
    "x_train",
    "y_train",
    "x_test",
    "y_test",
    "events_train",
    "offsets_train",
    "events_test",
    "offsets_test",
    "sensor_size",
    "classes",
]
DTYPES = [
    np.int8,
    np.uint8,
    np.int16,
    np.int64,
    np.float32,
    np.float64,
    np.bool_,
    EVENT_DTYPE,
    np.dtype([("x", "<f4"), ("t", "<i8")]),
]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    raw = draw(st.binary(min_size=n * np.dtype(dtype).itemsize, max_size=n * np.dtype(dtype).itemsize))
    return np.frombuffer(raw, dtype).reshape(shape).copy() if n else np.zeros(shape, dtype)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.dictionaries(st.sampled_from(KEYS), arrays(), max_size=len(KEYS)))
def test_random_npz_contents(tmp_path, content):
    p = tmp_path / "f.npz"
    np.savez(p, **content)
    try:
        ds = read_data_file(p)
    except DatasetError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert ds.kind in ("features", "spikes", "events") and ds.classes >= 1
    d = open_dataset(str(p))
    try:
        x, y = d.spikes("test", {"timesteps": 3} if d.kind != "spikes" else None)
    except DatasetError as e:  # e.g. values outside [0, 1] after scaling cannot happen; encoding checks
        assert "\n" not in str(e)
        return
    assert x.dtype == bool and x.shape[0] == len(y)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=600))
def test_random_bytes(tmp_path, raw):
    p = tmp_path / "g.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # sometimes a real zip holding garbage "arrays"
        z.writestr("x_train.npy", raw)
    p.write_bytes(raw if len(raw) % 2 else buf.getvalue())
    try:
        read_data_file(p)
    except DatasetError as e:
        assert "\n" not in str(e)


def _valid(kind: str) -> dict:
    rng = np.random.default_rng(0)
    if kind == "features":
        return dict(
            x_train=rng.random((6, 3)), y_train=np.arange(6) % 2, x_test=rng.random((4, 3)), y_test=np.arange(4) % 2
        )
    ev = np.zeros(10, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = np.arange(10) % 4, np.arange(10) % 3, np.arange(10) * 7, np.arange(10) % 2
    return dict(
        events_train=ev,
        offsets_train=np.array([0, 4, 10]),
        y_train=np.array([0, 1]),
        events_test=ev[:5],
        offsets_test=np.array([0, 5]),
        y_test=np.array([1]),
        sensor_size=np.array([4, 3, 2]),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["features", "events"]), key=st.sampled_from(KEYS), value=st.none() | arrays())
def test_one_damaged_key_of_a_valid_file(tmp_path, kind, key, value):
    content = _valid(kind)
    if value is None:
        content.pop(key, None)
    else:
        content[key] = value
    p = tmp_path / "h.npz"
    np.savez(p, **content)
    try:
        d = open_dataset(str(p))
        x, y = d.spikes("train", {"timesteps": 2})
        assert x.shape[0] == len(y)
    except DatasetError as e:
        assert str(e) and "\n" not in str(e)
