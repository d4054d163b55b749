"""UF2 images for boot loaders that mount as a USB drive (RP2040, nRF52840 and others).

Format (Microsoft's UF2 specification, github.com/microsoft/uf2): a file of 512-byte blocks,
each carrying up to 476 data bytes (here 256: what the RP2040 boot ROM requires) for one
target address. Block layout, little-endian 32-bit words:

    0  magicStart0 0x0A324655 ("UF2\\n")     4  magicStart1 0x9E5D5157
    8  flags (0x2000: familyID present)      12 targetAddr
    16 payloadSize                            20 blockNo
    24 numBlocks                              28 familyID
    32 data[476] (payload, then zero padding) 508 magicEnd 0x0AB16F30
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC_START0, MAGIC_START1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
BLOCK, DATA_CAPACITY, PAYLOAD = 512, 476, 256
#: family IDs from the specification's families list
FAMILIES = {"rp2040": 0xE48BFF56, "nrf52840": 0xADA52840, "stm32f4": 0x57755A57}
_HEAD = struct.Struct("<8I")


@dataclass(frozen=True)
class Block:
    flags: int
    address: int
    payload: bytes
    number: int
    count: int
    family: int


def to_uf2(image: bytes, base_address: int, family_id: int, payload: int = PAYLOAD) -> bytes:
    """A UF2 file placing ``image`` at ``base_address``, in ``payload``-byte blocks."""
    if not 0 < payload <= DATA_CAPACITY or payload % 4:
        raise ValueError(f"payload must be a multiple of 4 in 4..{DATA_CAPACITY}, got {payload}")
    if base_address % payload:
        raise ValueError(f"base address 0x{base_address:x} is not aligned to the {payload}-byte payload")
    if not image:
        raise ValueError("empty image")
    count = -(-len(image) // payload)
    out = bytearray()
    for k in range(count):
        chunk = image[k * payload : (k + 1) * payload].ljust(payload, b"\x00")
        head = _HEAD.pack(
            MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, base_address + k * payload, payload, k, count, family_id
        )
        out += head + chunk.ljust(DATA_CAPACITY, b"\x00") + struct.pack("<I", MAGIC_END)
    return bytes(out)


def parse_uf2(blob: bytes) -> list[Block]:
    """The blocks of a UF2 file, each checked (magics, sizes, numbering); ValueError naming the
    first bad block otherwise."""
    if len(blob) % BLOCK or not blob:
        raise ValueError(f"UF2 size {len(blob)} is not a positive multiple of {BLOCK}")
    blocks = []
    for k in range(len(blob) // BLOCK):
        b = blob[k * BLOCK : (k + 1) * BLOCK]
        m0, m1, flags, addr, size, num, count, fam = _HEAD.unpack(b[:32])
        (end,) = struct.unpack("<I", b[508:])
        if (m0, m1, end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise ValueError(f"block {k}: bad magic numbers")
        if size > DATA_CAPACITY or num != k or count != len(blob) // BLOCK:
            raise ValueError(f"block {k}: payload {size}, number {num} of {count} do not fit the file")
        blocks.append(Block(flags, addr, bytes(b[32 : 32 + size]), num, count, fam))
    return blocks


def image_of(blocks: list[Block]) -> tuple[int, bytes]:
    """(base address, contiguous image) of parsed blocks (gaps are refused)."""
    base = blocks[0].address
    out = bytearray()
    for b in blocks:
        if b.address != base + len(out):
            raise ValueError(f"block {b.number}: address 0x{b.address:x} leaves a gap")
        out += b.payload
    return base, bytes(out)
