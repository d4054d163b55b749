"""Boards: schema, fit rules, emulated boards bit-exact with the simulator, PlatformIO projects."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.firmware import platformio
from edgesnn.firmware.boards import BoardError, FitError, all_boards, get_board, load_board_file
from edgesnn.firmware.build import FORBIDDEN
from edgesnn.firmware.render import ABI_VERSION
from edgesnn.firmware.verify import verify
from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.fixedpoint.contract import CONTRACT_VERSION
from edgesnn.ir import LIF, CubaLIF, Dense, Network
from tests.strategies import quant_networks, spike_inputs
from tests.test_kits import EXPORT_ONLY, MODEL_COMPARED, VENDOR_CHECKED
from tests.toolchains import need_board_tools, need_tools

EMULATED = [
    "qemu-mps2-an385",
    "qemu-mps2-an386",
    "qemu-netduinoplus2",
    "qemu-microbit",
    "qemu-sifive-e",
    "qemu-nucleo-f446re",  # the nucleo-f446re's clock and USART code on USART1
    "qemu-hifive1-revb",  # the hifive1-revb image as built, at 0x20010000
]
#: real boards with a bare-metal image built here (tests/test_baremetal.py)
HARDWARE = ["nucleo-f446re", "rpi-pico", "nrf52840-dk", "hifive1-revb", "esp32-c3-devkit"]
PIO_BOARDS = [*(n for n in HARDWARE if n != "esp32-c3-devkit"), "esp32-devkit"]  # the C3: esptool, no project


def _skip_without_tools(board):
    need_board_tools(board)


def digits_like_model(seed=0, hidden=48, cuba=False, recurrent=False):
    rng = np.random.default_rng(seed)
    n1 = (
        CubaLIF(np.full(hidden, 0.8), np.full(hidden, 0.9), np.ones(hidden))
        if cuba
        else LIF(np.full(hidden, 0.9), np.ones(hidden))
    )
    net = Network(
        n_inputs=64,
        layers=(
            Dense(
                rng.normal(0, 0.35, (hidden, 64)),
                rng.normal(0, 0.05, hidden),
                n1,
                recurrent=rng.normal(0, 0.2, (hidden, hidden)) if recurrent else None,
            ),
            Dense(rng.normal(0, 0.4, (10, hidden)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
        input_spec={"dataset": "digits"},  # its data: commands that take a model read it from here
    )
    return quantize(net)


def test_every_board_file_validates_and_lists():
    boards = all_boards()
    assert set(EMULATED + PIO_BOARDS + ["host"]) <= set(boards)


def test_invalid_board_file_names_the_field(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(
        (Path(get_board("qemu-microbit").path))
        .read_text()
        .replace('name = "qemu-microbit"', 'name = "bad"')
        .replace("ram_bytes = 16384", 'ram_bytes = "lots"')
    )
    with pytest.raises(BoardError, match="memory/ram_bytes"):
        load_board_file(p)


def test_unknown_board():
    with pytest.raises(BoardError, match="unknown board 'teensy-9000'"):
        get_board("teensy-9000")


def test_model_too_large_names_rule_board_limit_and_layer(tmp_path):
    rng = np.random.default_rng(0)
    big = quantize(
        Network(
            n_inputs=64,
            layers=(
                Dense(rng.normal(size=(1000, 64)), np.zeros(1000), LIF(np.full(1000, 0.9), np.ones(1000))),
                Dense(rng.normal(size=(300, 1000)), np.zeros(300), LIF(np.full(300, 0.9), np.ones(300))),
            ),
        )
    )
    with pytest.raises(
        FitError, match=r"rule flash on board qemu-microbit: layer 1 brings the model tables to \d+ bytes; \d+ bytes"
    ):
        from edgesnn.firmware.boards import check_fits

        check_fits(get_board("qemu-microbit"), big)
    wide = quantize(
        Network(
            n_inputs=8,
            layers=(Dense(rng.normal(size=(2000, 8)), np.zeros(2000), LIF(np.full(2000, 0.9), np.ones(2000))),),
        )
    )
    with pytest.raises(
        FitError,
        match=r"rule ram on board qemu-sifive-e: model state needs \d+ bytes, 14336 bytes are free .*layer: 0, 2000 neurons",
    ):
        from edgesnn.firmware.boards import check_fits

        check_fits(get_board("qemu-sifive-e"), wide)


def test_a_board_that_keeps_constants_in_ram_counts_the_apps_constants_there():
    """On a ROM-to-SRAM board (esp32-c3-devkit) the app's own constants (extra_flash: embedded
    test inputs) are loaded into RAM with the tables: a model that fits alone is refused by the
    RAM rule once they would not fit beside it, naming the need."""
    from edgesnn.firmware.boards import RUNTIME_FLASH_RESERVE, check_fits, model_ram_bytes, model_table_bytes

    board = get_board("esp32-c3-devkit")
    assert board.tables_in_ram
    rng = np.random.default_rng(1)
    q = quantize(
        Network(
            n_inputs=64, layers=(Dense(rng.normal(size=(50, 64)), np.zeros(50), LIF(np.full(50, 0.9), np.ones(50))),)
        )
    )
    free = int(board.memory["ram_bytes"]) - board.stack_bytes
    need = model_ram_bytes(q) + sum(model_table_bytes(q)) + RUNTIME_FLASH_RESERVE
    check_fits(board, q, extra_flash=free - need)  # exactly full: fits
    with pytest.raises(
        FitError, match=rf"rule ram on board esp32-c3-devkit: model state and tables needs {free + 1} bytes"
    ):
        check_fits(board, q, extra_flash=free - need + 1)


def test_forbidden_symbol_pattern():
    for s in [
        "__aeabi_fadd",
        "__aeabi_dmul",
        "__aeabi_i2f",
        "__aeabi_ui2d",
        "__addsf3",
        "__floatsisf",
        "__fixdfsi",
        "malloc",
        "_sbrk",
    ]:
        assert FORBIDDEN.match(s), s
    for s in ["__aeabi_lmul", "__aeabi_uidiv", "__aeabi_idiv", "__muldi3", "esnn_step", "memset"]:
        assert not FORBIDDEN.match(s), s


def test_a_model_whose_updates_are_all_generated_links_no_generic_update(tmp_path):
    """Every layer with a generated update: the build compiles the runtime with
    ESNN_ALL_GENERATED and the generic neuron update is not in the image; a model with a
    generic layer refuses that flag at compile time instead of running without its update."""
    import subprocess

    from edgesnn.errors import BuildError
    from edgesnn.firmware.build import build, tool_path

    board = get_board("qemu-mps2-an385")
    need_tools(board.toolchain["cc"], what="the qemu-mps2-an385 build")
    q = digits_like_model()

    def symbols(res) -> set[str]:
        nm = subprocess.run([tool_path(board, "nm"), str(res.elf)], capture_output=True, text=True, check=True)
        return {ln.split()[-1] for ln in nm.stdout.splitlines() if ln.strip()}

    fast = build(q, board, tmp_path / "fast", app="device")
    assert "esnn_step" in symbols(fast) and "esnn_neuron_generic" not in symbols(fast)  # the runtime, linked
    generic = build(q, board, tmp_path / "generic", app="device", specialise=False)
    assert "esnn_neuron_generic" in symbols(generic)
    assert fast.flash_runtime_bytes < generic.flash_runtime_bytes
    with pytest.raises(BuildError, match="ESNN_ALL_GENERATED"):
        build(q, board, tmp_path / "forced", app="device", specialise=False, extra_cflags=("-DESNN_ALL_GENERATED",))


@pytest.mark.parametrize("name", EMULATED)
def test_emulated_board_bit_exact_on_digits(name, tmp_path):
    from edgesnn.data.datasets import encoded

    board = get_board(name)
    _skip_without_tools(board)
    qnet = digits_like_model(cuba=name.endswith("an386"), recurrent=name.endswith("sifive-e"))
    x, _ = encoded("digits", "test")
    res = verify(qnet, board, x[:60], tmp_path)
    assert res["samples"] == 60 and res["mismatches"] == 0, res
    assert res["firmware"] == {
        "board": name,
        "model_hash32": f"{qnet.hash32:08x}",
        "abi_version": ABI_VERSION,
        "contract_version": CONTRACT_VERSION,
    }
    b = res["build"]
    assert 0 < b["flash_runtime_bytes"] < 4096 and b["flash_model_bytes"] > 0 and b["ram_bytes"] > 0


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-microbit", "qemu-sifive-e"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_emulated_board_bit_exact_on_random_networks(tmp_path_factory, name, data):
    board = get_board(name)
    _skip_without_tools(board)
    qnet = data.draw(quant_networks(max_layers=3, max_width=24))
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=5, max_steps=10))
    res = verify(qnet, board, x, tmp_path_factory.mktemp("q"))
    assert res["mismatches"] == 0, res


@pytest.mark.parametrize("name", PIO_BOARDS)
def test_platformio_project_generates_compiles_and_validates(name, tmp_path):
    board = get_board(name)
    proj = platformio.generate_project(digits_like_model(), board, tmp_path / name)
    ini = (proj / "platformio.ini").read_text()
    assert f"board = {board.platformio['board']}" in ini and "do not edit" in ini
    # PlatformIO must be there to check the project file; a compiler Debian ships must be there too
    need_tools("pio", "unshare", what=f"checking {name}'s platformio.ini")
    if board.toolchain.get("debian_packages"):
        need_tools(board.toolchain["cc"], what=f"compiling {name}'s sources")
    cc = platformio.compile_check(board, proj)
    if board.toolchain.get("debian_packages"):
        assert cc["compiled"] and {"esnn.c", "esnn_proto.c", "device.c"} <= set(cc["files"])
    else:  # ESP32: no Xtensa compiler in Debian, and the result says so
        assert not cc["compiled"] and board.toolchain["cc"] in cc["reason"]
    if board.platformio["framework"] == "arduino":  # the glue, against Debian's Arduino core API
        need_tools("avr-g++", what=f"compiling {name}'s Arduino glue against Arduino.h")
        assert cc["arduino_glue"]["compiled"] and cc["arduino_glue"]["files"] == ["hal_arduino.cpp"], cc
    else:
        assert cc["arduino_glue"] is None
    cfg = platformio.validate_config(proj)
    assert cfg["validated"], cfg
    assert f"env:{board.platformio['board'].replace('-', '_')}" in cfg["sections"]


def test_image_with_float_helpers_is_rejected(tmp_path):
    """A real soft-float image (not just the pattern) fails the build's symbol check."""
    board = get_board("qemu-microbit")
    _skip_without_tools(board)
    import subprocess

    from edgesnn.firmware.build import measure
    from edgesnn.firmware.hostbuild import BuildError

    src = tmp_path / "f.c"
    src.write_text(
        "volatile float a = 1.5f; int main(void) { return (int)(a * 3.0f); }\nvoid reset_handler(void) { main(); }\n"
    )
    elf = tmp_path / "f.elf"
    subprocess.run(
        [
            board.toolchain["cc"],
            "-mcpu=cortex-m0",
            "-mthumb",
            "-O2",
            "-nostdlib",
            "-nostartfiles",
            "-Wl,-ereset_handler",
            str(src),
            "-lgcc",
            "-o",
            str(elf),
        ],
        check=True,
    )
    with pytest.raises(BuildError, match=r"links forbidden symbols: .*__aeabi_f"):
        measure(board, elf, [], tmp_path, "test")


def test_state_digest_catches_compensating_errors():
    """Two wrong states whose errors cancel in a weighted sum (v0 + 3, v1 - 1 under weights K, 3K)
    still change the emulated boards' per-sample digest (CRC-32)."""
    import copy

    from edgesnn.firmware import golden
    from edgesnn.fixedpoint import simulate_int

    qnet = digits_like_model(seed=1, hidden=8)
    x = np.random.default_rng(0).random((2, 3, 64)) < 0.3
    sim = simulate_int(qnet, x, record=True)
    bad = copy.deepcopy(sim)
    bad.record[0]["v"][0, 0, 0] += 3
    bad.record[0]["v"][0, 0, 1] -= 1
    good_d, bad_d = golden.digests(qnet, sim), golden.digests(qnet, bad)
    assert bad_d[0] != good_d[0] and bad_d[1] == good_d[1]


def test_verify_errors_are_one_line(tmp_path, monkeypatch):
    """A board that reports too few samples, or a host harness that hangs, ends `verify` with one
    line naming the cause (it raised a bare RuntimeError / TimeoutExpired before)."""
    import importlib
    from dataclasses import replace

    from typer.testing import CliRunner

    from edgesnn.cli.app import app
    from edgesnn.firmware import hostbuild
    from edgesnn.formats import save_model

    verify_mod = importlib.import_module("edgesnn.firmware.verify")  # the module, not the function
    need_board_tools(get_board("qemu-mps2-an385"))
    q = save_model(digits_like_model(seed=2, hidden=8), tmp_path / "q.qsnn")
    real_selfcheck, real_run_host = verify_mod.run_selfcheck, hostbuild.run_host

    def one_report_short(*a, **k):
        r = real_selfcheck(*a, **k)
        return replace(r, digests=r.digests[:-1])

    monkeypatch.setattr(verify_mod, "run_selfcheck", one_report_short)
    res = CliRunner().invoke(
        app, ["verify", str(q), "--board", "qemu-mps2-an385", "--limit", "3", "--out", str(tmp_path / "b")]
    )
    assert res.exit_code == 1 and res.stderr.strip().splitlines() == [
        "error: qemu-mps2-an385: the firmware reported 2 samples of 3"
    ], (res.stderr, res.exception)
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 5\n")
    hang.chmod(0o755)
    with pytest.raises(hostbuild.BuildError, match="did not finish within 0 s"):
        real_run_host(digits_like_model(seed=2, hidden=8), hang, np.zeros((1, 2, 64), bool), timeout=0.2)


def test_every_board_says_how_far_it_is_verified_and_the_label_is_true():
    """The labels are data; these facts keep them honest (see the tests named beside each)."""
    labels = {b.name: b.verified for b in all_boards().values()}
    for name, board in all_boards().items():
        label = labels[name]
        if board.kind == "host":
            assert label == "bit-exact on host"  # tests/test_firmware_host.py, every state under ASan/UBSan
        elif board.kind == "qemu":
            assert label == "bit-exact on emulator" and name in EMULATED  # test_emulated_board_bit_exact_on_digits
        elif board.kind == "hardware":
            # tests/test_baremetal.py builds every image; no test here can run one on the board
            assert label == "image built, not run" and name in HARDWARE
        elif board.kind == "kit":  # tests/test_kits.py keeps each kit's label true
            assert (
                name
                in {
                    "bit-exact vs vendor simulator": VENDOR_CHECKED,
                    "compared with vendor model": MODEL_COMPARED,
                    "export only": EXPORT_ONLY,
                }[label]
            )
        else:
            assert label == "project generated, not compiled" and name in PIO_BOARDS  # no compiler (ESP32)


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-microbit", "qemu-sifive-e"])
def test_specialised_neuron_update_is_bit_exact_at_its_edges(name, tmp_path):
    """Every branch of runtime/esnn_update.h (M3 smlal, M4 smmlar/smmulr, M0 partial products,
    RV32 mulhsu; the portable split; no leak; ssat widths and the generic clamp; bias or none;
    both resets) against the golden model. Every layer spikes, so each is updated with synaptic
    input (not only by the idle path), its neuron 0 is driven below the state range and its
    neuron 1 has its threshold at the top (a sum saturated there does not spike)."""
    from edgesnn.firmware.render import render_model
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    board = get_board(name)
    _skip_without_tools(board)
    rng = np.random.default_rng(7)
    alphas = [0, 1, 32767, 32768, 32769, 58982, 65535, 65536]
    for bits in (24, 16, 12):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        layers, n = [], 12
        for k, alpha in enumerate(alphas):
            m = 10 if k % 2 else 7  # odd widths: the packed update's last neuron is half a word
            w = rng.integers(-60, 128, (m, n))
            w[0] = -rng.integers(100, 128, n)
            thr = rng.integers(hi // 16, hi // 2, m)
            thr[1] = hi
            layers.append(
                QuantLayer(
                    weight=w,
                    bias=np.zeros(m, np.int64) if k % 2 else rng.integers(lo // 8, hi // 8, m),
                    shift=bits - 10,
                    alpha_mem=np.full(m, alpha),
                    threshold=thr,
                    reset="subtract" if k % 3 else "to_value",
                    v_reset=np.full(m, int(rng.integers(lo // 2, hi // 2))),
                )
            )
            n = m
        qnet = QuantNetwork(n_inputs=12, layers=tuple(layers), state_bits=bits)
        src = render_model(qnet).files["esnn_model.c"]
        assert all(f"l{i}_update_packed" in src for i in range(len(alphas))), "every layer takes the specialised update"
        x = rng.random((4, 30, 12)) < 0.6
        sim = simulate_int(qnet, x, record=True, count_saturation=True)
        for i, rec in enumerate(sim.record):  # the edges are reached, layer by layer
            assert 0 < rec["spikes"].mean() < 1 and sim.saturations[i] > 0, (bits, i)
            assert (rec["v"][..., 0] == lo).any(), (bits, i)
        res = verify(qnet, board, x, tmp_path / str(bits))
        assert res["samples"] == 4 and res["mismatches"] == 0, res
