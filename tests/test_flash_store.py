"""Learned weights in microcontroller flash: the A/B slot store against a flash model that
enforces erase-before-write, page granularity and word alignment, with a power cut at every
step; the chip drivers cross-compiled; and the nRF5 driver run on QEMU's emulated NVMC."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.device.deploy import deploy
from edgesnn.firmware.boards import get_board
from edgesnn.firmware.hostbuild import SANITIZE_FLAGS, STRICT_FLAGS, write_model_sources
from edgesnn.firmware.paths import templates_dir
from edgesnn.firmware.render import RUNTIME_CORE
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_board_tools, need_tools

pytestmark = pytest.mark.device
HERE = Path(__file__).parent / "c"


def _harness(tmp_path: Path, board_name: str, hidden: int = 12) -> Path:
    """The persistence harness over the flash model, with the slot geometry of a board file."""
    need_tools("cc", what="the flash-model harness")
    st = get_board(board_name).storage
    qnet = digits_like_model(seed=3, hidden=hidden)
    src = tmp_path / "src"
    write_model_sources(qnet, src, learn_layer=len(qnet.layers) - 1)
    (src / "board_config.h").write_text(
        '#define BOARD_NAME "flash-model"\n'
        f"#define BOARD_STORAGE_SLOT0 0x{st['slot0']:08x}u\n#define BOARD_STORAGE_SLOT1 0x{st['slot1']:08x}u\n"
        f"#define BOARD_STORAGE_SLOT_BYTES {st['slot_bytes']}u\n#define BOARD_STORAGE_PAGE_BYTES {st['page_bytes']}u\n"
    )
    hal = templates_dir() / "hal"
    files = [src / n for n in (*RUNTIME_CORE, "esnn_model.c", "esnn_learn.c", "esnn_persist.c")]
    files += [hal / "store_flash.c", HERE / "flash_model.c", HERE / "persist_flash_test.c"]
    exe = tmp_path / "persist_flash_test"
    flags = [f for f in STRICT_FLAGS if f != "-pedantic"]  # setjmp/longjmp in the harness
    subprocess.run(
        ["cc", "-O1", *flags, *SANITIZE_FLAGS, f"-I{src}", f"-I{hal}", f"-I{HERE}", *map(str, files), "-o", str(exe)],
        check=True,
        capture_output=True,
        text=True,
    )
    return exe


@pytest.mark.parametrize("board", ["qemu-microbit", "nrf52840-dk", "nucleo-f446re"])
def test_power_cut_at_every_flash_step_keeps_the_last_committed_weights(tmp_path, board):
    exe = _harness(tmp_path, board)
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    words = res.stdout.split()
    got = dict(zip(words[::2], map(int, words[1::2])))
    print(board, res.stdout.strip())
    assert got["bad"] == 0 and got["ok"] == got["cuts"] > 4 * got["steps"] - 4 and got["steps"] > 10


def test_the_flash_model_catches_a_write_without_erase(tmp_path):
    exe = _harness(tmp_path, "qemu-microbit")
    res = subprocess.run([str(exe), "breach"], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "not erased since it was last programmed" in res.stderr


@pytest.mark.parametrize("board", ["nrf52840-dk", "nucleo-f446re"])
def test_flash_drivers_cross_compile_strictly(tmp_path, board):
    b = get_board(board)
    need_tools(b.toolchain["cc"], what=f"{board}'s flash driver")
    hal = templates_dir() / "hal"
    (tmp_path / "board_config.h").write_text(
        "".join(f"#define BOARD_STORAGE_{k.upper()} {v}u\n" for k, v in b.storage.items() if k != "driver")
    )
    for f in (hal / "store_flash.c", hal / f"flash_{b.storage['driver']}.c"):
        subprocess.run(
            [
                b.toolchain["cc"],
                "-O2",
                *STRICT_FLAGS,
                *b.toolchain["cflags"],
                "-ffreestanding",
                f"-I{tmp_path}",
                f"-I{hal}",
                f"-I{templates_dir() / 'runtime'}",
                "-c",
                str(f),
                "-o",
                str(tmp_path / (f.stem + ".o")),
            ],
            check=True,
            capture_output=True,
            text=True,
        )


def test_nvmc_driver_saves_and_loads_on_the_emulated_nrf51(tmp_path):
    """The real NVMC register sequence against QEMU's nRF51 NVM model: SAVE, overwrite, LOAD."""
    board = get_board("qemu-microbit")
    need_board_tools(board)
    qnet = digits_like_model(seed=4, hidden=16)
    li = len(qnet.layers) - 1
    shape = qnet.layers[li].weight.shape
    with deploy(qnet, board, tmp_path, learn_layer=li) as d:
        dev = d.device
        assert dev.info().capabilities & 8  # PERSIST
        a = np.random.default_rng(0).integers(-100, 101, shape)
        dev.write_weights(a)
        assert dev.save_weights() == 1
        dev.write_weights(np.zeros(shape, np.int64))
        assert dev.save_weights() == 2  # the other slot
        b = np.random.default_rng(1).integers(-100, 101, shape)
        dev.write_weights(b)
        assert dev.load_weights() == 2 and np.array_equal(dev.read_weights(shape), np.zeros(shape))
        dev.write_weights(a)
        assert dev.save_weights() == 3  # back to slot 0: erased and rewritten
        dev.write_weights(b)
        assert dev.load_weights() == 3 and np.array_equal(dev.read_weights(shape), a)
