"""spoken-commands: the recipe (docs/data.md), checked without making the whole set."""

import numpy as np
import pytest

from edgesnn.data import spoken
from edgesnn.errors import DatasetError
from tests.toolchains import need_tools


def test_the_split_is_by_voice_variant_and_balanced():
    train, test = spoken.utterances("train"), spoken.utterances("test")
    assert (len(train), len(test)) == (5632, 1408)
    v_train, v_test = {u[1] for u in train}, {u[1] for u in test}
    assert not v_train & v_test and v_test == set(spoken.TEST_VARIANTS) and len(v_test) == 8
    assert {u[0] for u in test} == set(spoken.ACCENTS)  # every accent in both
    for split in (train, test):
        counts = np.bincount([u[3] for u in split])
        assert len(counts) == len(spoken.CLASS_NAMES) and counts.min() == counts.max()
    assert not set(spoken.OTHER_WORDS) & set(spoken.COMMANDS)


@pytest.mark.device
def test_a_sample_is_deterministic_and_follows_the_recipe():
    need_tools("espeak-ng", what="making spoken-commands")
    a, snr_a = spoken.sample("en-us", "m3", 1, 4)  # "left"
    b, snr_b = spoken.sample("en-us", "m3", 1, 4)
    assert a.dtype == np.int16 and a.shape == (16000,) and np.array_equal(a, b) and snr_a == snr_b
    assert snr_a in spoken.SNRS_DB
    peaks = []
    for cls in range(len(spoken.CLASS_NAMES)):
        x, snr = spoken.sample("en-gb", "f3", 0, cls)
        if snr is None:  # clean: silence around the word, a peak in the recipe's range
            assert (x == 0).sum() > 1000
            peaks.append(20 * np.log10(np.abs(x).max() / 32767))
    assert all(spoken.PEAK_DBFS[0] - 0.1 <= p <= spoken.PEAK_DBFS[1] + 0.1 for p in peaks)
    other, _ = spoken.sample("en-gb", "f3", 0, 4)
    assert not np.array_equal(other, a)


def test_without_espeak_the_error_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(spoken.shutil, "which", lambda name: None)
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path))
    with pytest.raises(DatasetError, match="apt-get install espeak-ng"):
        spoken.ensure()


@pytest.mark.device
def test_the_stream_recipe_short():
    """spoken-commands-stream (data.spoken_stream): a short recording made twice is the same;
    commands are segments, distractors are spoken but are not; mostly non-speech; test voices
    only in the test recording."""
    need_tools("espeak-ng", what="making spoken-commands-stream")
    from edgesnn.data import spoken_stream as S

    a, b = S.record("test", 40), S.record("test", 40)
    assert np.array_equal(a["audio"], b["audio"]) and np.array_equal(a["segments"], b["segments"])
    x, seg, speech = a["audio"], a["segments"], a["speech_us"]
    assert x.dtype == np.int16 and x.shape == (40 * 16000,)
    assert len(seg) >= 5 and (seg[:, 2] < len(spoken.COMMANDS)).all() and (np.diff(seg[:, 0]) > 0).all()
    assert set(map(tuple, seg[:, :2])) <= set(map(tuple, speech))  # every segment is a word's span
    non_speech = 1 - (speech[:, 1] - speech[:, 0]).sum() / 40e6
    assert non_speech >= 0.8
    gaps = speech[1:, 0] - speech[:-1, 1]
    assert gaps.min() >= S.MIN_GAP_S * 1e6 - 100
    # between words: the noise floor only, within the recipe's levels
    quiet = x[int(speech[0, 1] * 0.016) + 1600 : int(speech[1, 0] * 0.016) - 160].astype(np.float64)
    rms_db = 20 * np.log10(np.sqrt(np.mean(quiet**2)) / 32767)
    assert S.NOISE_DBFS[0] - 3 < rms_db < S.NOISE_DBFS[1] + 3
    plan = S._plan("test", 40)
    assert {p[0].split("+")[1] for p in plan} <= set(spoken.TEST_VARIANTS)
    assert {p[0].split("+")[1] for p in S._plan("train", 40)}.isdisjoint(spoken.TEST_VARIANTS)
    assert any(p[1] == -1 for p in plan)  # distractors are drawn
