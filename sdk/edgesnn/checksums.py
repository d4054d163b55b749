"""Checksums computed most-significant bit first (no reflection, no final XOR): the serial
protocol's CRC-16/CCITT-FALSE and the RP2040 boot ROM's CRC-32/MPEG-2."""

from __future__ import annotations


def crc_msb_first(data: bytes, bits: int, poly: int, init: int) -> int:
    """A ``bits``-wide CRC of ``data``: polynomial ``poly``, initial value ``init``."""
    top, mask = 1 << (bits - 1), (1 << bits) - 1
    crc = init
    for byte in data:
        crc ^= byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc
