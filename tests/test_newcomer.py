"""A newcomer's first hour: one-line usage errors, help in words, readable human output, data
sets found beside their model, API errors naming arguments, progress drawn only once work
starts, boot pings that are not retransmissions, a CLI reference listing every option."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import serial
from typer.testing import CliRunner

from edgesnn import api
from edgesnn.cli.app import app, command
from edgesnn.cli.readable import lines, number, size
from edgesnn.device import codec
from edgesnn.device.client import Device
from edgesnn.errors import ArgumentError, EdgesnnError
from edgesnn.fixedpoint import quantize
from edgesnn.formats import load_model, save_model
from edgesnn.ir import LIF, Dense, Network

runner = CliRunner()


def edgesnn(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The console script as a user runs it (its own process: ``main`` with its error lines)."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "edgesnn", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.mark.parametrize(
    "args,names",
    [
        (["verify", "m.qsnn", "--limit", "-5"], "--limit"),
        (["verify"], "MODEL"),
        (["bogus"], "bogus"),
        (["verify", "m.qsnn", "--json", "true"], "true"),
        (["train", "--no-such-option"], "--no-such-option"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args, names):
    p = edgesnn(*args)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: ") and names in p.stderr, p.stderr
    assert "╭" not in p.stderr and "Traceback" not in p.stderr


def test_help_is_in_words_at_80_columns():
    p = edgesnn("verify", "--help")
    assert p.returncode == 0
    assert "Usage: edgesnn verify [OPTIONS] MODEL" in p.stdout
    assert "--limit INTEGER" in p.stdout and "--board TEXT" in p.stdout and "--out PATH" in p.stdout
    for typer_style in ("{model}", "<bool>", "<str>", "<path>", "--no-count-instructions", "│"):
        assert typer_style not in p.stdout
    assert "default 450" not in p.stdout  # the default is the first 450 test samples, said as such
    train = edgesnn("train", "--help").stdout
    assert "digits-rows" in train and "saccade-digits-stream" in train
    # descriptions get most of the 80 columns (typer's boxes left them a column of 3-4 words)
    import re

    starts = [m.start(2) for ln in train.splitlines() if (m := re.match(r"  (--\S+(?: [A-Z]+)?)\s+(\S)", ln))]
    assert starts and max(starts) <= 32 and max(len(ln) for ln in train.splitlines()) <= 80


def test_boards_piped_keeps_every_name_whole():
    p = edgesnn("boards")
    assert p.returncode == 0
    for name in (r["name"] for r in api.boards()):
        assert name in p.stdout
    assert "…" not in p.stdout


def test_readable_numbers_and_nested_results():
    assert number(131065.5911111111) == "131,066" and number(2.853947216) == "2.854"
    assert number(6.64e-07) == "6.64e-07" and number(4894) == "4894" and number(1987200) == "1,987,200"
    assert size(4096 * 1024) == "4 MB" and size(4032 * 1024) == "4032 KB" and size(1 << 30) == "1 GB"
    out = lines(
        {
            "test_accuracy": 0.91111,
            "timesteps": None,
            "input_spec": {"dataset": "digits", "timesteps": 25},
            "input_shape": [2, 32, 32],
            "warnings": [],
            "layers": [{"layer": 0, "shape": [256, 64]}],
        }
    )
    assert out == [
        "test accuracy: 91.11%",
        "timesteps: -",
        "input spec:",
        "  dataset: digits",
        "  timesteps: 25",
        "input shape: 2 × 32 × 32",
        "warnings: none",
        "layers:",
        "  - layer: 0",
        "    shape: 256 × 64",
    ]


def test_human_output_has_no_python_reprs(tmp_path):
    for args in (["data", "info", "digits"], ["data", "info", "saccade-digits"], ["version"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        for repr_ in ("{'", "None", "np.", "[", "True", "False"):
            assert repr_ not in res.stdout, (args, res.stdout)


def _wine_like(path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(path, x_train=x[:90], y_train=y[:90], x_test=x[90:], y_test=y[90:])


def test_a_models_data_set_is_found_beside_the_model_from_anywhere(tmp_path, monkeypatch):
    """A model trained in byod/ on wine.npz simulates from the parent directory, and after the
    folder moves; a model that records no data set is refused, naming --dataset."""
    byod = tmp_path / "byod"
    byod.mkdir()
    _wine_like(byod / "wine.npz")
    rng = np.random.default_rng(1)
    net = Network(
        n_inputs=6,
        layers=(Dense(rng.normal(0, 0.5, (2, 6)), np.zeros(2), LIF(np.full(2, 0.9), np.ones(2))),),
        input_spec={"dataset": "wine.npz", "encoding": "rate", "timesteps": 10, "seed": 0},
    )
    monkeypatch.chdir(byod)  # trained here: the spec says "wine.npz"
    save_model(quantize(net), Path("wine.qsnn"))
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["simulate", "byod/wine.qsnn", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["samples"] == 30
    moved = tmp_path / "elsewhere"
    (byod).rename(moved)
    assert load_model(moved / "wine.qsnn").input_spec["dataset"] == str(moved / "wine.npz")
    assert runner.invoke(app, ["simulate", "elsewhere/wine.qsnn", "--json"]).exit_code == 0
    bare = save_model(quantize(Network(n_inputs=6, layers=net.layers)), tmp_path / "bare.qsnn")
    res = runner.invoke(app, ["simulate", str(bare)])
    assert res.exit_code == 1 and "records no data set" in res.stderr and "--dataset" in res.stderr
    with pytest.raises(ArgumentError, match=r"records no data set: give dataset or input"):
        api.simulate(bare)


def test_a_raw_nir_file_in_quantize_points_to_import_dt(tmp_path):
    import nir

    from tests.test_nir_import import lif_graph

    nir.write(str(tmp_path / "raw.nir"), lif_graph(tau=1.0))
    res = runner.invoke(app, ["quantize", str(tmp_path / "raw.nir"), "--dataset", "digits"])
    assert res.exit_code == 1 and "edgesnn import FILE.nir --dt SECONDS" in res.stderr


def test_api_errors_name_arguments_and_the_cli_its_options(tmp_path):
    q = save_model(
        quantize(
            Network(
                n_inputs=64,
                layers=(Dense(np.ones((2, 64)), np.zeros(2), LIF(np.full(2, 0.9), np.ones(2))),),
                input_spec={"dataset": "digits"},
            )
        ),
        tmp_path / "m.qsnn",
    )
    with pytest.raises(ArgumentError) as e:
        api.stream(q)
    assert str(e.value) == "give board (deploy first) or port (a device already deployed)"
    assert e.value.cli_message() == "give --board (deploy first) or --port (a device already deployed)"
    assert isinstance(e.value, EdgesnnError) and isinstance(e.value, ValueError)
    res = runner.invoke(app, ["stream", str(q)])
    assert (
        res.exit_code == 1
        and res.stderr == "error: give --board (deploy first) or --port (a device already deployed)\n"
    )


def test_no_training_bar_before_an_option_is_refused(tmp_path):
    res = runner.invoke(app, ["train", "--encoding", "poisson", "--out", str(tmp_path / "m.nir")])
    assert res.exit_code == 1 and res.stderr.startswith("error: unknown encoding 'poisson'")
    assert res.stderr.count("\n") == 1  # no bar drawn above it


class _BootingLink:
    """A loopback-like link to a device that ignores the first ``deaf`` pings while it boots,
    then answers every request (PING and RESET) with a clean reply."""

    def __init__(self, deaf: int):
        self.deaf, self.out, self.dec, self.timeout = deaf, bytearray(), codec.FrameDecoder(), 0.05

    def write(self, data: bytes) -> int:
        for f in self.dec.feed(data):
            if f.type == codec.PING and self.deaf > 0:
                self.deaf -= 1
                continue
            self.out += codec.encode_frame(codec.Frame(type=f.type | codec.REPLY, seq=f.seq, payload=f.payload))
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def read(self, n: int = 1) -> bytes:
        data, self.out[:] = bytes(self.out[:n]), self.out[n:]
        return data

    def close(self) -> None:
        pass


def test_pings_while_the_device_boots_are_not_retransmissions():
    dev = Device(_BootingLink(deaf=5), timeout=1.0, port="booting")
    dev.sync(timeout=20)
    assert dev.retransmissions == 0 and dev.sync_pings >= 6
    dev.reset()
    assert dev.retransmissions == 0  # a clean link after boot: nothing was sent twice


def test_a_lost_reply_after_boot_is_still_a_retransmission():
    link = serial.serial_for_url("loop://", timeout=0.05)
    dev = Device(link, timeout=2.0, port="loop://", retry_timeout=0.05)
    with pytest.raises(Exception, match="no reply"):
        dev.reset()  # loop:// echoes the request, never a reply
    assert dev.retransmissions > 0


def test_the_cli_reference_lists_every_option_of_every_command():
    from edgesnn.cli.docs import commands, reference_markdown

    ref = reference_markdown()
    listed = commands()
    assert len(listed) >= 22
    for full, cmd in listed:
        assert f"## `{full}`" in ref
        for p in cmd.params:
            if p.param_type_name == "option":
                assert all(f"`{o}`" in ref for o in p.opts), (full, p.opts)
    assert "`--limit` | `INTEGER` (x>=1)" in ref and "`--count-instructions` |  | off" in ref
    assert command().commands["verify"].params[0].metavar == "MODEL"


def test_a_command_line_converts_only_the_command_it_names_with_the_same_options():
    from edgesnn.cli.app import _first_word

    full = command()
    for name in ("simulate", "data", "verify"):
        part = command(only=_first_word([name, "--help"]))
        assert set(part.commands) == {name, "version"}
        a, b = full.commands[name], part.commands[name]
        subs = getattr(a, "commands", {name: a})
        for sub in subs:
            pa = getattr(a, "commands", {sub: a})[sub].params
            pb = getattr(b, "commands", {sub: b})[sub].params
            assert [(p.opts, p.metavar, p.default) for p in pa] == [(p.opts, p.metavar, p.default) for p in pb]
    assert _first_word(["--help"]) is None and _first_word(["simulat"]) is None and _first_word([]) is None
    assert set(command(only="version").commands) == set(full.commands)  # alone it would collapse


def test_a_typo_gets_a_did_you_mean():
    res = runner.invoke(app, ["train", "--board", "xylo-im", "--epochs", "1"])
    assert res.exit_code == 1 and "unknown board 'xylo-im' (did you mean 'xylo-imu'?)" in res.stderr
    res = runner.invoke(app, ["data", "info", "digit"])
    assert res.exit_code == 1 and "(did you mean 'digits'?)" in res.stderr
    res = runner.invoke(app, ["data", "info", "zzz"])
    assert res.exit_code == 1 and "did you mean" not in res.stderr


def test_builtin_sizes_are_those_of_the_opened_data_sets():
    """The sizes a kit refusal lists data sets by (read without generating anything) are the
    opened data sets' own."""
    import math

    from edgesnn.data.datasets import builtin_sizes, open_any

    for name, (n, classes) in builtin_sizes().items():
        ds = open_any(name)
        assert (math.prod(ds.input_shape(ds.resolve({}))), ds.classes) == (n, classes), name
