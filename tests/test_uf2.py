"""UF2 writer, block by block against the format specification."""

import struct

import numpy as np
import pytest

from edgesnn.firmware.uf2 import FAMILIES, image_of, parse_uf2, to_uf2


def test_rp2040_image_block_by_block():
    image = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    blob = to_uf2(image, 0x10000000, FAMILIES["rp2040"])
    assert len(blob) == 4 * 512  # ceil(1000 / 256) blocks of 512 bytes
    for k in range(4):
        b = blob[k * 512 : (k + 1) * 512]
        words = struct.unpack("<8I", b[:32])
        assert words == (0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * k, 256, k, 4, 0xE48BFF56)
        want = image[256 * k : 256 * (k + 1)].ljust(256, b"\x00")
        assert b[32:288] == want and b[288:508] == bytes(220)  # payload, then zero padding to 476
        assert struct.unpack("<I", b[508:])[0] == 0x0AB16F30
    base, back = image_of(parse_uf2(blob))
    assert base == 0x10000000 and back[:1000] == image and back[1000:] == bytes(24)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="not aligned"):
        to_uf2(b"x" * 10, 0x10000001, FAMILIES["rp2040"])
    blob = bytearray(to_uf2(b"x" * 600, 0, FAMILIES["nrf52840"]))
    blob[512] ^= 1
    with pytest.raises(ValueError, match="block 1: bad magic"):
        parse_uf2(bytes(blob))
    with pytest.raises(ValueError, match="not a positive multiple of 512"):
        parse_uf2(b"\x00" * 100)
