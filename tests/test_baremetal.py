"""Real boards: bare-metal images built with Debian's cross compilers, the RP2040 boot2, UF2
files block by block, flashing plans, drives, port discovery and its clear errors."""

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.device import flash as flash_mod
from edgesnn.device.flash import check_drive, find_drives, plan, wait_for_port
from edgesnn.errors import DeviceError
from edgesnn.firmware.baremetal import checksummed_boot2, crc32_mpeg2
from edgesnn.firmware.boards import all_boards, get_board
from edgesnn.firmware.build import build
from edgesnn.firmware.uf2 import FAMILIES, image_of, parse_uf2
from edgesnn.formats import save_model
from tests.test_firmware_boards import HARDWARE, digits_like_model
from tests.toolchains import need_board_tools, need_tools

#: what each real board's flasher or drive takes
FORMATS = {
    "nucleo-f446re": {"bin", "hex"},
    "nrf52840-dk": {"bin", "hex"},
    "rpi-pico": {"bin", "uf2"},
    "hifive1-revb": {"bin", "hex"},
    "esp32-c3-devkit": {"esp"},
}


@pytest.fixture(scope="module")
def qnet():
    return digits_like_model()


@pytest.fixture(scope="module")
def images(qnet, tmp_path_factory):
    out = {}
    for name in HARDWARE:
        board = get_board(name)
        need_board_tools(board)
        out[name] = build(qnet, board, tmp_path_factory.mktemp(name))
    return out


def test_hardware_boards_are_the_bare_metal_ones():
    hw = sorted(n for n, b in all_boards().items() if b.kind == "hardware")
    assert hw == sorted(HARDWARE) == sorted(FORMATS)
    assert all_boards()["esp32-devkit"].kind == "platformio"  # no Xtensa compiler in Debian


@pytest.mark.parametrize("name", HARDWARE)
def test_every_real_board_builds_its_native_image(name, images):
    res, board = images[name], get_board(name)
    assert set(res.images) == FORMATS[name]
    if name == "esp32-c3-devkit":  # no flat binary: test_esp32c3_image_is_what_its_rom_loads
        return
    origin = board.memory["flash_origin"]
    binary = Path(res.images["bin"]).read_bytes()
    assert 0 < len(binary) == res.flash_bytes  # text + data, nothing else
    if "hex" in res.images:  # Intel HEX: records checksum to 0 and cover the same bytes at the origin
        data, upper = {}, 0
        for line in Path(res.images["hex"]).read_text().split():
            rec = bytes.fromhex(line[1:])
            assert sum(rec) % 256 == 0, line
            n, addr, kind = rec[0], int.from_bytes(rec[1:3], "big"), rec[3]
            if kind == 4:
                upper = int.from_bytes(rec[4:6], "big") << 16
            elif kind == 0:
                for i in range(n):
                    data[upper + addr + i] = rec[4 + i]
        assert min(data) == origin and bytes(data[origin + i] for i in range(len(binary))) == binary
    if board.family == "cortex-m":  # the vector table: stack top in RAM, a Thumb reset handler in flash
        at = 256 if name == "rpi-pico" else 0
        sp, reset = struct.unpack_from("<2I", binary, at)
        assert sp == board.memory["ram_origin"] + board.memory["ram_bytes"]
        assert reset & 1 and origin < reset < origin + len(binary)


def test_esp32c3_image_is_what_its_rom_loads(images):
    """The ESP image header as the C3's ROM reads it, field by field, then esptool's own parser:
    the segments are the ELF's code (IRAM) and constants + data (DRAM), checksum and digest valid."""
    from esptool.bin_image import LoadFirmwareImage

    from edgesnn.firmware.build import tool_path

    res, board = images["esp32-c3-devkit"], get_board("esp32-c3-devkit")
    blob = Path(res.images["esp"]).read_bytes()
    magic, segments, mode, size_freq, entry = struct.unpack_from("<BBBBI", blob, 0)
    assert magic == 0xE9 and segments == 2 and mode == 2  # 2: DIO
    assert size_freq == 0x20  # 4 MB (high nibble 2), 40 MHz (low nibble 0)
    assert int.from_bytes(blob[12:14], "little") == 5  # chip id: ESP32-C3
    assert entry == board.memory["flash_origin"] == 0x40380000
    image = LoadFirmwareImage("esp32c3", res.images["esp"])
    image.verify()  # checksum and the appended SHA-256
    assert image.chip_id == 5 and image.entrypoint == entry and image.append_digest
    out = subprocess.run([tool_path(board, "objdump"), "-h", str(res.elf)], capture_output=True, text=True).stdout
    sections = {
        p[1]: (int(p[2], 16), int(p[3], 16)) for p in map(str.split, out.splitlines()) if len(p) > 6 and p[0].isdigit()
    }
    segs = {s.addr: len(s.data) for s in image.segments}
    assert segs == {sections[".text"][1]: sections[".text"][0], sections[".data"][1]: sections[".data"][0]}
    ram, end = board.memory["ram_origin"], board.memory["ram_origin"] + board.memory["ram_bytes"]
    assert ram == sections[".data"][1] and end == 0x3FCDC710  # below the ROM's boot stack
    assert sections[".bss"][1] + sections[".bss"][0] + board.stack_bytes <= end
    assert 0x40380000 + sections[".text"][0] <= ram + 0x700000  # code and data do not share SRAM
    assert res.flash_bytes == len(image.segments[0].data) + len(image.segments[1].data)


def test_esp32c3_plan_is_esptool_on_its_usb_port(qnet, tmp_path, monkeypatch):
    need_board_tools(get_board("esp32-c3-devkit"))
    model = tmp_path / "m.qsnn"
    save_model(qnet, model)
    monkeypatch.setattr(flash_mod, "ports_by_usb_id", lambda ids: ["/dev/ttyACM3"] if ids == ["303a:1001"] else [])
    args = ["deploy", str(model), "--board", "esp32-c3-devkit", "--dry-run", "--json", "--out", str(tmp_path / "b")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.stderr, res.exception)
    p = json.loads(res.stdout)
    image = str(tmp_path / "b" / "device.esp.bin")
    assert (p["method"], p["file"], p["port"], p["address"], p["reset"]) == (
        "esptool",
        image,
        "/dev/ttyACM3",
        0,
        "usb-serial-jtag",
    )
    assert p["usb_ids"] == ["303a:1001"] and p["images"] == {"esp": image} and p["notes"] == []
    assert p["command"] == ["esptool", "--chip", "esp32c3", "--port", "/dev/ttyACM3", "--before", "default-reset",
                            "--after", "hard-reset", "write-flash", "0x0", image]  # fmt: skip
    monkeypatch.setattr(flash_mod, "ports_by_usb_id", lambda ids: [])
    res = CliRunner().invoke(app, args[:-4] + ["--out", str(tmp_path / "c")])  # no --dry-run, no board
    assert res.exit_code == 1 and res.stderr.strip() == (
        "error: no serial port of esp32-c3-devkit (303a:1001) is connected; give --port"
    )
    res = CliRunner().invoke(app, [*args[:-4], "--port", str(tmp_path / "no-such-tty"), "--out", str(tmp_path / "c")])
    assert res.exit_code == 1 and res.stderr.startswith("error: esptool could not flash esp32-c3-devkit on ")
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("peer", ["silent", "noise"])
def test_esptool_on_a_port_that_is_no_esp_fails_in_one_line_within_seconds(tmp_path, peer):
    """Flashing the C3 through a serial port whose other end is not an ESP ROM (a pseudo-terminal
    that never answers, or one that streams random bytes): esptool's connect gives up after its
    three attempts with one line naming the port, in seconds, and the port is closed again."""
    import os
    import pty
    import threading
    import time

    master, slave = pty.openpty()
    stop = threading.Event()

    def noise():  # random bytes at the host, and whatever the host sends read away
        rng = np.random.default_rng(0)
        while not stop.is_set():
            try:
                os.write(master, rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
                time.sleep(0.01)
            except OSError:
                return

    def drain():
        while not stop.is_set():
            try:
                os.read(master, 4096)
            except OSError:
                return

    threads = [threading.Thread(target=drain, daemon=True)]
    if peer == "noise":
        threads.append(threading.Thread(target=noise, daemon=True))
    for t in threads:
        t.start()
    image = tmp_path / "device.esp.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    fp = flash_mod.FlashPlan(board="esp32-c3-devkit", method="esptool", file=str(image), command=None, drive=None,
                             port=os.ttyname(slave), usb_ids=["303a:1001"], reset="usb-serial-jtag")  # fmt: skip
    t0 = time.monotonic()
    try:
        with pytest.raises(DeviceError) as err:
            flash_mod._esptool_write(fp)
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
    assert time.monotonic() - t0 < 30  # a bound that only a hang breaks, not a timing
    msg = str(err.value)
    assert msg.startswith(f"esptool could not flash esp32-c3-devkit on {fp.port}: ") and "\n" not in msg, msg


def test_pico_boot2_is_checksummed_as_the_boot_rom_wants(images):
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
    binary = Path(images["rpi-pico"].images["bin"]).read_bytes()
    boot2 = binary[:256]
    assert int.from_bytes(boot2[252:], "little") == crc32_mpeg2(boot2[:252])
    assert checksummed_boot2(boot2[:252].rstrip(b"\x00")) == boot2  # code, zero padding, CRC
    with pytest.raises(Exception, match="at most 252"):
        checksummed_boot2(bytes(253))


def test_pico_uf2_block_by_block(images):
    res = images["rpi-pico"]
    blob = Path(res.images["uf2"]).read_bytes()
    binary = Path(res.images["bin"]).read_bytes()
    blocks = parse_uf2(blob)
    assert len(blocks) == -(-len(binary) // 256) and len(blob) == 512 * len(blocks)
    for k, b in enumerate(blocks):
        assert b.flags == 0x2000 and b.family == FAMILIES["rp2040"] == 0xE48BFF56
        assert b.address == 0x10000000 + 256 * k and len(b.payload) == 256 and b.number == k
        raw = blob[512 * k : 512 * (k + 1)]
        assert raw[32 + 256 : 508] == bytes(476 - 256)  # the unused data area is zeros
    base, image = image_of(blocks)
    assert base == 0x10000000 and image[: len(binary)] == binary and not image[len(binary) :].strip(b"\x00")


def _pico_drive(tmp_path, board_id="RPI-RP2"):
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text(f"UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: {board_id}\n")
    return drive


def test_drives_are_found_by_label_or_info_uf2(tmp_path, monkeypatch):
    media = tmp_path / "media" / "user"
    media.mkdir(parents=True)
    pico = _pico_drive(media)
    renamed = media / "SOMETHING"
    renamed.mkdir()
    (renamed / "INFO_UF2.TXT").write_text("Board-ID: RPI-RP2\n")
    (media / "NODE_F446RE").mkdir()
    monkeypatch.setenv("EDGESNN_DRIVE_ROOTS", str(tmp_path / "media"))
    assert find_drives(get_board("rpi-pico")) == sorted([pico, renamed])
    assert find_drives(get_board("nucleo-f446re")) == [media / "NODE_F446RE"]
    assert find_drives(get_board("nrf52840-dk")) == []


def test_drive_checks_name_the_reason(tmp_path):
    pico, nucleo = get_board("rpi-pico"), get_board("nucleo-f446re")
    with pytest.raises(DeviceError, match="not a mounted folder"):
        check_drive(pico, tmp_path / "nope")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(DeviceError, match="no INFO_UF2.TXT: it is not a UF2 boot loader's drive"):
        check_drive(pico, plain)
    with pytest.raises(DeviceError, match=r"UF2 boot loader's drive \(Board-ID RPI-RP2\); nucleo-f446re takes .bin"):
        check_drive(nucleo, _pico_drive(tmp_path))
    other = tmp_path / "o"
    other.mkdir()
    with pytest.raises(DeviceError, match="belongs to Board-ID NICE-NANO, not rpi-pico"):
        check_drive(pico, _pico_drive(other, "NICE-NANO"))


def test_plan_prefers_the_drive_then_tools(tmp_path, monkeypatch):
    board = get_board("rpi-pico")
    imgs = {"bin": str(tmp_path / "d.bin"), "uf2": str(tmp_path / "d.uf2")}
    monkeypatch.setenv("EDGESNN_DRIVE_ROOTS", str(tmp_path / "none"))
    monkeypatch.setattr(flash_mod, "which", lambda tool: f"/usr/bin/{tool}" if tool == "openocd" else None)
    p = plan(board, elf="d.elf", images=imgs)
    assert p.method == "openocd" and p.available == ["openocd"]
    assert p.command == ["openocd", *board.deploy["openocd"], "-c", "program d.elf verify reset exit"]
    drive = _pico_drive(tmp_path)
    p = plan(board, elf="d.elf", images=imgs, drive=str(drive))
    assert (p.method, p.file, p.drive, p.command) == ("drive", imgs["uf2"], str(drive), None)
    assert p.available == ["drive", "openocd"] and p.usb_ids == ["2e8a:000c"]
    monkeypatch.setattr(flash_mod, "which", lambda tool: None)
    with pytest.raises(DeviceError, match="rpi-pico: no way to flash it on this machine: mount its RPI-RP2 drive"):
        plan(board, elf="d.elf", images=imgs)
    with pytest.raises(DeviceError, match="unknown flashing method 'jtag'"):
        plan(board, elf="d.elf", images=imgs, method="jtag")


def test_no_port_appears_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(flash_mod, "ports_by_usb_id", lambda ids: [])
    with pytest.raises(DeviceError) as e:
        wait_for_port(get_board("rpi-pico"), None, timeout=0.3)
    assert str(e.value) == (
        "no serial port of rpi-pico (USB 2e8a:000c) appeared within 0.3 s after flashing; connect a USB-UART "
        "adapter on GP0 (TX) / GP1 (RX), e.g. the Raspberry Pi Debug Probe, or give --port"
    )
    monkeypatch.setattr(flash_mod, "ports_by_usb_id", lambda ids: ["/dev/ttyACM7"] if "0483:374b" in ids else [])
    assert wait_for_port(get_board("nucleo-f446re"), None, timeout=0.3) == "/dev/ttyACM7"


def test_deploy_to_a_pico_drive_writes_the_uf2_then_says_no_port(qnet, tmp_path, monkeypatch):
    need_board_tools(get_board("rpi-pico"))
    model = tmp_path / "m.qsnn"
    save_model(qnet, model)
    drive = _pico_drive(tmp_path)
    monkeypatch.setattr(flash_mod, "ports_by_usb_id", lambda ids: [])  # no Debug Probe on this machine
    args = ["deploy", str(model), "--board", "rpi-pico", "--drive", str(drive), "--port-timeout", "0.5"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: no serial port of rpi-pico (USB 2e8a:000c) appeared within 0.5 s after flashing; connect a "
        "USB-UART adapter on GP0 (TX) / GP1 (RX), e.g. the Raspberry Pi Debug Probe, or give --port"
    ]
    written = drive / "device.uf2"
    assert written.read_bytes() == (tmp_path / "b" / "device.uf2").read_bytes()
    assert parse_uf2(written.read_bytes())[0].address == 0x10000000


@pytest.mark.parametrize("name", [*HARDWARE, "esp32-devkit"])
def test_deploy_dry_run_prints_the_plan(name, qnet, tmp_path, monkeypatch):
    board = get_board(name)
    if board.kind == "hardware":
        need_board_tools(board)
    model = tmp_path / "m.qsnn"
    save_model(qnet, model)
    monkeypatch.setenv("EDGESNN_DRIVE_ROOTS", str(tmp_path / "none"))
    tools = {"openocd", "pio"}
    monkeypatch.setattr(flash_mod, "which", lambda t: f"/usr/bin/{t}" if t in tools else None)
    args = ["deploy", str(model), "--board", name, "--dry-run", "--json", "--out", str(tmp_path / "b")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.stderr, res.exception)
    p = json.loads(res.stdout)
    assert p["board"] == name and p["usb_ids"] == board.deploy["usb_ids"]
    if name == "esp32-c3-devkit":  # esptool's Python API, whatever tools are installed
        assert p["method"] == "esptool" and p["file"].endswith("device.esp.bin") and Path(p["file"]).is_file()
        assert set(p["images"]) == FORMATS[name] and p["flash_bytes"] > 0
    elif board.kind == "hardware":
        assert p["method"] == "openocd" and p["file"].endswith("device.elf") and Path(p["file"]).is_file()
        assert set(p["images"]) == FORMATS[name] and p["flash_bytes"] > 0
    else:
        assert p["method"] == "platformio" and p["command"][:2] == ["pio", "run"] and p["images"] == {}
    assert not (tmp_path / "none").exists()  # nothing flashed, nothing written outside the build folder


@pytest.mark.parametrize("name", [n for n in HARDWARE if n != "esp32-c3-devkit"])  # the C3: esptool
def test_openocd_configs_named_by_the_board_files_exist(name):
    """openocd's -f files resolve against its scripts folder (Debian: /usr/share/openocd/scripts)."""
    need_tools("openocd", what=f"checking {name}'s openocd configuration")
    scripts = Path(shutil.which("openocd")).resolve().parent.parent / "share" / "openocd" / "scripts"
    args = get_board(name).deploy["openocd"]
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    assert files and all((scripts / f).is_file() for f in files), (scripts, files)


def test_ports_say_which_board_they_belong_to(monkeypatch):
    from types import SimpleNamespace

    from serial.tools import list_ports

    from edgesnn import api

    def port(dev, vid, pid):
        return SimpleNamespace(device=dev, description="d", vid=vid, pid=pid, serial_number=None, manufacturer=None)

    fake = [port("/dev/ttyACM0", 0x0483, 0x374B), port("/dev/ttyACM1", 0x1366, 0x1051), port("/dev/ttyS0", None, None)]
    monkeypatch.setattr(list_ports, "comports", lambda: fake)
    rows = {r["port"]: (r["usb_id"], r["boards"]) for r in api.ports()}
    assert rows == {
        "/dev/ttyACM0": ("0483:374b", ["nucleo-f446re"]),
        "/dev/ttyACM1": ("1366:1051", ["hifive1-revb", "nrf52840-dk"]),
        "/dev/ttyS0": (None, []),
    }
    res = CliRunner().invoke(app, ["ports"])
    assert res.exit_code == 0 and "hifive1-revb, nrf52840-dk" in res.stdout.splitlines()[1]


def test_a_failing_flash_tool_is_one_clear_error(tmp_path):
    p = flash_mod.FlashPlan(
        "rpi-pico",
        "openocd",
        "x.elf",
        ["sh", "-c", "echo 'Error: no device found' >&2; exit 1"],
        None,
        None,
        [],
        "none",
    )
    with pytest.raises(DeviceError, match="^openocd could not flash rpi-pico: Error: no device found$"):
        flash_mod.flash(p)
    p.command = ["edgesnn-no-such-tool"]
    with pytest.raises(DeviceError, match="edgesnn-no-such-tool not found"):
        flash_mod.flash(p)
