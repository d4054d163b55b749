"""The serial protocol as a pure codec: bytes <-> frames <-> messages. No I/O (docs/protocol.md).

Frame: COBS(header | payload | crc16) followed by 0x00. Header: u8 version, u8 type, u8 seq,
u8 flags, u16 payload length; CRC-16/CCITT-FALSE over header and payload; little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from edgesnn.checksums import crc_msb_first
from edgesnn.errors import ProtocolError  # noqa: F401  (re-exported: raised here)

#: 3: continuous streams (FLAG_STREAM: detections, a running digest of every state)
PROTOCOL_VERSION = 3
HEADER = struct.Struct("<BBBBH")

HELLO, RESET, STEP_SPARSE, STEP_DENSE, RESULT, STATS, PING, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x7F
PLASTICITY, LABEL, READ_WEIGHTS, WRITE_WEIGHTS, SAVE, LOAD = 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D
REPLY = 0x80
ERROR_NAMES = {
    1: "bad CRC",
    2: "unsupported protocol version",
    3: "unknown message type",
    4: "malformed message",
    5: "frame too large for the device",
    6: "input index out of range",
    7: "invalid COBS encoding",
    8: "not supported by this build or board",
    9: "parameter out of range",
    10: "persistent storage failed or holds no valid weights",
    11: "sparse input indices not strictly increasing (duplicate)",
}
CAP_TICKS, CAP_ICOUNT, CAP_LEARN, CAP_PERSIST, CAP_STEP_FLAGS = 1, 2, 4, 8, 16
CAP_STREAM, CAP_DECISION = 32, 64  # STEP takes FLAG_STREAM; the model has a decision rule
CAP_AUDIO = 128  # the model has an audio front end: STEP_PCM, and HELLO ends with its rates
STEP_PCM = 0x0E  # an audio model's timesteps as int16 PCM, which the device's front end turns into spikes
# flags of a STEP request (devices with CAP_STEP_FLAGS): reset before its first timestep, and
# append the RESULT payload to its reply
FLAG_RESET, FLAG_RESULT = 1, 2
# a continuous stream's STEP: the reply adds the running digest, synaptic events and ticks since
# RESET, and the frame's detections (STREAM_TAIL bytes, then 2 per detection)
FLAG_STREAM = 4
STREAM_TAIL = 13
NO_LAYER = 0xFF


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return crc_msb_first(data, 16, 0x1021, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        block = data[i + 1 : i + code]
        if code == 0 or len(block) != code - 1 or 0 in block:
            raise ProtocolError("invalid COBS encoding")
        out += block
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION
    flags: int = 0


class VersionMismatch(ProtocolError):
    """An intact frame of another protocol version: the peer runs other firmware or software."""

    def __init__(self, version: int):
        self.version = version
        super().__init__(f"unsupported protocol version {version}")


def encode_frame(frame: Frame) -> bytes:
    body = HEADER.pack(frame.version, frame.type, frame.seq, frame.flags, len(frame.payload)) + frame.payload
    return cobs_encode(body + struct.pack("<H", crc16(body))) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """One frame's bytes between delimiters -> Frame, checking COBS, CRC and length."""
    raw = cobs_decode(encoded)
    if len(raw) < HEADER.size + 2:
        raise ProtocolError(f"frame of {len(raw)} bytes is shorter than a header")
    body, (crc,) = raw[:-2], struct.unpack("<H", raw[-2:])
    if crc16(body) != crc:
        raise ProtocolError("bad CRC")
    version, type_, seq, flags, n = HEADER.unpack(body[: HEADER.size])
    if version != PROTOCOL_VERSION:
        raise VersionMismatch(version)
    if n != len(body) - HEADER.size:
        raise ProtocolError(f"header says {n} payload bytes, frame has {len(body) - HEADER.size}")
    return Frame(type=type_, seq=seq, payload=bytes(body[HEADER.size :]), version=version, flags=flags)


@dataclass
class FrameDecoder:
    """Incremental decoder: feed any bytes, get frames; garbage is dropped up to the next 0x00.

    ``errors`` counts rejected frames (bad COBS, CRC, length) and ``max_encoded`` bounds a frame
    so that a stream without delimiters cannot grow the buffer without end.
    """

    max_encoded: int = 1 << 16
    errors: int = 0
    last_error: str = ""
    peer_version: int | None = None  # set when an intact frame of another protocol version arrives
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        for chunk in bytes(data).split(b"\x00")[:-1] if b"\x00" in data else []:
            frames.extend(self._complete(chunk))
        tail = bytes(data).rsplit(b"\x00", 1)[-1] if b"\x00" in data else bytes(data)
        self._append(tail)
        return frames

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        self._buf += chunk
        if len(self._buf) > self.max_encoded:
            self._buf.clear()
            self._overflow = True

    def _complete(self, chunk: bytes) -> list[Frame]:
        self._append(chunk)
        buf, overflow = bytes(self._buf), self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow:
            self.errors += 1
            self.last_error = "frame longer than the limit"
            return []
        if not buf:
            return []
        try:
            return [decode_frame(buf)]
        except VersionMismatch as e:
            self.peer_version = e.version
            self.errors += 1
            self.last_error = str(e)
            return []
        except ProtocolError as e:
            self.errors += 1
            self.last_error = str(e)
            return []


# --- messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    fw_version: str
    abi_version: int
    contract_version: int
    hash32: int
    n_inputs: int
    n_outputs: int
    n_layers: int
    capabilities: int
    max_frame: int
    ticks_per_instruction: float  # 0 when the board's ticks are not instruction counts
    learn_layer: int | None  # the layer that can learn on the device, if any
    board: str
    pcm_per_step: int = 0  # audio models (CAP_AUDIO): audio samples per timestep, else 0
    sample_rate: int = 0  # audio models: Hz, else 0

    @property
    def payload_room(self) -> int:
        """The largest payload a frame to or from this device holds (header and CRC aside)."""
        return self.max_frame - HEADER.size - 2


def parse_hello(p: bytes) -> Hello:
    if len(p) < 21:
        raise ProtocolError(f"HELLO reply of {len(p)} bytes is malformed")
    maj, mnr, abi, contract, h, n_in, n_out, n_layers, caps, max_frame, tpi, ll = struct.unpack("<BBBBIHHBHHHB", p[:20])
    rates = 4 if caps & CAP_AUDIO else 0  # u16 samples per timestep, u16 sample rate after the name
    if len(p) != 21 + p[20] + rates:
        raise ProtocolError(f"HELLO reply of {len(p)} bytes is malformed")
    pcm_per_step, rate = struct.unpack("<HH", p[21 + p[20] :]) if rates else (0, 0)
    if rates and pcm_per_step == 0:
        raise ProtocolError("HELLO reply names an audio front end of 0 samples per timestep")
    return Hello(
        f"{maj}.{mnr}",
        abi,
        contract,
        h,
        n_in,
        n_out,
        n_layers,
        caps,
        max_frame,
        tpi / 10.0,
        None if ll == NO_LAYER else ll,
        p[21 : 21 + p[20]].decode("ascii", errors="replace"),
        pcm_per_step,
        rate,
    )


MODE_CODES = {"off": 0, "pair": 1, "three_factor": 2}


def plasticity_payload(cfg) -> bytes:
    """PLASTICITY payload from a fixedpoint.plasticity.PlasticityConfig (the layer is fixed at build)."""
    return struct.pack(
        "<BBiiHHHHhh",
        MODE_CODES[cfg.mode],
        cfg.lr_shift,
        cfg.alpha_pre,
        cfg.alpha_post,
        cfg.a_pre,
        cfg.a_post,
        cfg.eta_plus,
        cfg.eta_minus,
        cfg.w_min,
        cfg.w_max,
    )


def sparse_steps(steps: list) -> bytes:
    """Payload of STEP_SPARSE: u8 count, then per step u16 n and n u16 input indices."""
    if not 0 < len(steps) < 256:
        raise ValueError(f"1..255 timesteps per frame, got {len(steps)}")
    out = bytearray([len(steps)])
    for ev in steps:
        ev = [int(e) for e in ev]
        out += struct.pack(f"<H{len(ev)}H", len(ev), *ev)
    return bytes(out)


def pcm_steps(pcm) -> bytes:
    """Payload of STEP_PCM: u8 count, then the timesteps' int16 samples (timesteps, samples per
    timestep), little-endian."""
    import numpy as np

    a = np.asarray(pcm)
    if a.ndim != 2 or a.dtype != np.int16:
        raise ValueError(f"PCM timesteps must be int16 (timesteps, samples per timestep), got {a.dtype} {a.shape}")
    if not 0 < a.shape[0] < 256:
        raise ValueError(f"1..255 timesteps per frame, got {a.shape[0]}")
    return bytes([a.shape[0]]) + a.astype("<i2").tobytes()


def dense_steps(bitmaps: list[bytes]) -> bytes:
    if not 0 < len(bitmaps) < 256:
        raise ValueError(f"1..255 timesteps per frame, got {len(bitmaps)}")
    return bytes([len(bitmaps)]) + b"".join(bitmaps)


def parse_outputs(p: bytes, n_outputs: int) -> list[list[int]]:
    """STEP reply -> per timestep, the output neurons that spiked."""
    return parse_step_reply(p, n_outputs, with_result=False)[0]


def result_bytes(n_outputs: int) -> int:
    """Length of RESULT's payload (also what FLAG_RESULT appends to a STEP reply)."""
    return 14 + 2 * n_outputs


def parse_step_reply(p: bytes, n_outputs: int, with_result: bool) -> tuple[list[list[int]], Result | None]:
    """STEP reply -> per timestep the output neurons that spiked, and the RESULT that follows
    them when the request had FLAG_RESULT."""
    nb = (n_outputs + 7) // 8
    tail = result_bytes(n_outputs) if with_result else 0
    if not p or len(p) != 1 + p[0] * nb + tail:
        raise ProtocolError(f"STEP reply of {len(p)} bytes is malformed")
    res = parse_result(p[len(p) - tail :], n_outputs) if with_result else None
    out = []
    for s in range(p[0]):
        bits = p[1 + s * nb : 1 + (s + 1) * nb]
        out.append([j for j in range(n_outputs) if bits[j >> 3] >> (j & 7) & 1])
    return out, res


@dataclass(frozen=True)
class Result:
    prediction: int
    synops: int
    neuron_updates: int
    ticks: int
    counts: tuple[int, ...]


def parse_result(p: bytes, n_outputs: int) -> Result:
    if len(p) != result_bytes(n_outputs):
        raise ProtocolError(f"RESULT reply of {len(p)} bytes is malformed")
    pred, syn, upd, ticks = struct.unpack("<HIII", p[:14])
    return Result(pred, syn, upd, ticks, struct.unpack(f"<{n_outputs}H", p[14:]))


def parse_error(p: bytes) -> tuple[int, int]:
    if len(p) != 3:
        raise ProtocolError("ERROR reply is malformed")
    code, detail = struct.unpack("<BH", p)
    return code, detail


@dataclass(frozen=True)
class StreamTail:
    """What a FLAG_STREAM reply adds after the outputs."""

    digest: int  # CRC-32 of every state since RESET (docs/protocol.md)
    synops: int  # synaptic events since RESET, modulo 2**32
    ticks: int  # ticks in esnn_step and the decision rule since RESET, modulo 2**32
    detections: tuple[tuple[int, int], ...]  # (timestep within the frame, class)


def parse_stream_reply(p: bytes, n_outputs: int) -> tuple[list[list[int]], StreamTail]:
    """A FLAG_STREAM STEP reply -> per timestep the output spikes, and the stream tail."""
    nb = (n_outputs + 7) // 8
    if not p:
        raise ProtocolError("empty STEP reply")
    base = 1 + p[0] * nb
    if len(p) < base + STREAM_TAIL:
        raise ProtocolError(f"stream STEP reply of {len(p)} bytes is malformed")
    digest, syn, ticks, n_det = struct.unpack_from("<IIIB", p, base)
    if len(p) != base + STREAM_TAIL + 2 * n_det:
        raise ProtocolError(f"stream STEP reply of {len(p)} bytes does not hold its {n_det} detections")
    det = tuple((p[base + STREAM_TAIL + 2 * k], p[base + STREAM_TAIL + 2 * k + 1]) for k in range(n_det))
    if any(s >= p[0] or c >= n_outputs for s, c in det):
        raise ProtocolError("stream STEP reply names a timestep or class out of range")
    outs, _ = parse_step_reply(p[:base], n_outputs, with_result=False)
    return outs, StreamTail(digest, syn, ticks, det)
