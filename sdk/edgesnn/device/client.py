"""A device over any byte transport pyserial opens (`/dev/ttyACM0`, `socket://…`, `loop://`).

Every read has a deadline: a device that stops answering or disappears raises DeviceError
within the timeout, never hangs. A noisy wire is survived by retransmission: a request whose
reply does not arrive (lost, or damaged and dropped by the CRC check) is sent again with the
*same* sequence number, and the device answers a repeated request with its stored reply
instead of running it twice (protocol version 2, docs/protocol.md).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import numpy as np
import serial

from edgesnn.device import codec
from edgesnn.errors import DeviceError  # noqa: F401  (re-exported: raised here)

try:  # a pty whose other end went away raises termios.error (EIO), not an OSError
    import termios

    LINK_ERRORS: tuple = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - non-POSIX
    LINK_ERRORS = (serial.SerialException, OSError)


@dataclass
class SampleOutput:
    spikes: np.ndarray  # (timesteps, n_outputs) bool
    result: codec.Result
    seconds: float  # wall time of the whole exchange for this sample
    steps: int = 0  # timesteps run (fewer than the sample's with early exit)


class Device:
    def __init__(self, link, *, timeout: float = 2.0, port: str = "", retries: int = 6, retry_timeout: float = 0.2):
        if retries < 0 or not retry_timeout > 0:
            raise ValueError(f"retries must be >= 0 and retry_timeout > 0, got {retries}, {retry_timeout}")
        self.link, self.timeout, self.port = link, timeout, port
        self.retries, self.retry_timeout = retries, retry_timeout
        self.retransmissions = 0  # requests sent again (lost or damaged replies or requests)
        self.damaged_requests = 0  # error replies with seq 0: the device received a damaged frame
        self.decoder = codec.FrameDecoder()
        self._seq = 0
        self._hello: codec.Hello | None = None
        self._pending: list[codec.Frame] = []  # decoded but not yet examined (several per read)
        self.ignored_frames = 0
        self.sync_pings = 0  # pings sent by sync() while the device booted (not retransmissions)
        self._auto_steps = 255  # run_sample's timesteps per frame when it chooses (halved on damage)

    @classmethod
    def open(cls, port: str, *, timeout: float = 2.0, baudrate: int = 115200) -> Device:
        try:
            link = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05, write_timeout=timeout)
        except (*LINK_ERRORS, ValueError) as e:
            raise DeviceError(f"cannot open {port}: {e}") from None
        return cls(link, timeout=timeout, port=port)

    def close(self) -> None:
        try:
            self.link.close()
        except LINK_ERRORS:
            pass

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.link.write(data)
            self.link.flush()
        except LINK_ERRORS as e:
            raise DeviceError(f"device on {self.port or 'link'} disappeared while sending ({e})") from None

    def _next_frame(self, deadline: float) -> codec.Frame | None:
        if not self._pending:
            self._pending = self._read_frames(deadline)
        return self._pending.pop(0) if self._pending else None

    def _read_frames(self, deadline: float) -> list[codec.Frame]:
        """Frames decoded before the deadline; returns early (empty) when a damaged frame arrives."""
        errors = self.decoder.errors
        while True:
            if time.monotonic() > deadline or self.decoder.errors > errors:
                return []
            try:
                data = self.link.read(max(1, getattr(self.link, "in_waiting", 0) or 1))
            except LINK_ERRORS as e:
                raise DeviceError(f"device on {self.port or 'link'} disappeared ({e})") from None
            if data:
                frames = self.decoder.feed(data)
                if frames:
                    return frames

    def request(self, type_: int, payload: bytes = b"", *, timeout: float | None = None, flags: int = 0) -> codec.Frame:
        """Send one request and wait for its reply (same seq); error replies raise DeviceError.

        Retransmits the same frame, at most ``retries`` times within the overall ``timeout``,
        when no reply comes within the current try's wait (``retry_timeout``, doubling each try)
        or as soon as a damaged frame arrives (a reply the CRC rejected, or the device's error
        about a damaged request).
        """
        self._seq = self._seq % 255 + 1  # 1..255: seq 0 marks replies about unattributable frames
        seq = self._seq
        wire = codec.encode_frame(codec.Frame(type=type_, seq=seq, payload=payload, flags=flags))
        total = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        wait, tries = self.retry_timeout, 0
        self._write(wire)
        try_deadline = min(deadline, time.monotonic() + wait)
        while True:
            f = self._next_frame(try_deadline)
            if f is not None:
                if f.type == codec.ERROR | codec.REPLY and f.seq == seq:
                    code, detail = codec.parse_error(f.payload)
                    raise DeviceError(
                        f"device error {code} ({codec.ERROR_NAMES.get(code, 'unknown')}), detail {detail}"
                    )
                if f.seq == seq and f.type == type_ | codec.REPLY:
                    return f
                self.ignored_frames += 1  # a late or replayed reply to an earlier request, or noise
                if not (f.seq == 0 and f.type == codec.ERROR | codec.REPLY):
                    continue  # not about our request: keep waiting
                self.damaged_requests += 1
                # else the device saw a damaged frame, probably our request: send it again now
            # here: the try's wait ran out, a damaged frame arrived, or the device saw one
            now = time.monotonic()
            if self.decoder.peer_version is not None and self.decoder.peer_version != codec.PROTOCOL_VERSION:
                raise DeviceError(
                    f"the device on {self.port or 'link'} speaks protocol version {self.decoder.peer_version}, "
                    f"this edgesnn speaks {codec.PROTOCOL_VERSION}: build and deploy its firmware with this edgesnn"
                )
            if now >= deadline or tries >= self.retries:
                raise DeviceError(
                    f"no reply to message 0x{type_:02x} within {total:.1f} s on {self.port or 'link'}"
                    f" ({tries} retransmissions)"
                )
            tries += 1
            self.retransmissions += 1
            wait = min(wait * 2, total)
            self._write(wire)
            try_deadline = min(deadline, time.monotonic() + wait)

    # --- messages -------------------------------------------------------------------------

    def sync(self, timeout: float = 10.0) -> None:
        """Ping until the device answers (after boot the first bytes can stall about a second).

        Pings sent while the device boots are not retransmissions of a lost request: they are
        counted in ``sync_pings``, and the link counters (``retransmissions``, ``damaged_requests``,
        ``ignored_frames``: boot noise and replies to earlier pings) start from here."""
        deadline = time.monotonic() + timeout
        counters = (self.retransmissions, self.damaged_requests, self.ignored_frames)
        sent = 0
        try:
            while True:
                sent += 1
                try:
                    self.request(codec.PING, b"sync", timeout=0.3)
                    return
                except DeviceError:
                    if time.monotonic() > deadline:
                        raise DeviceError(f"device on {self.port} did not answer within {timeout:.0f} s") from None
        finally:
            self.sync_pings += sent + self.retransmissions - counters[0]
            self.retransmissions, self.damaged_requests, self.ignored_frames = counters

    def info(self) -> codec.Hello:
        if self._hello is None:
            self._hello = codec.parse_hello(self.request(codec.HELLO).payload)
        return self._hello

    def reset(self) -> None:
        self.request(codec.RESET)

    def step(self, steps: list) -> list[list[int]]:
        """Run timesteps given as lists of active input indices; returns output spikes per step."""
        return self._step_frame(codec.STEP_SPARSE, codec.sparse_steps(steps))[0]

    def step_dense(self, rows: np.ndarray) -> list[list[int]]:
        """Run timesteps given as 0/1 rows (timesteps, n_inputs), sent as bitmaps."""
        return self._step_frame(codec.STEP_DENSE, self._bitmaps(rows))[0]

    @staticmethod
    def _bitmaps(rows: np.ndarray) -> bytes:
        return codec.dense_steps([np.packbits(np.asarray(r, bool), bitorder="little").tobytes() for r in rows])

    def _step_frame(self, type_: int, payload: bytes, flags: int = 0) -> tuple[list[list[int]], codec.Result | None]:
        """One STEP frame; with codec.FLAG_RESULT its reply also carries the sample's RESULT."""
        reply = self.request(type_, payload, flags=flags).payload
        return codec.parse_step_reply(reply, self.info().n_outputs, bool(flags & codec.FLAG_RESULT))

    def result(self) -> codec.Result:
        return codec.parse_result(self.request(codec.RESULT).payload, self.info().n_outputs)

    def stats(self) -> dict:
        """Counters since boot; ``link_ticks`` (ticks spent on received bytes, replies and
        timesteps included) where the firmware reports it."""
        p = self.request(codec.STATS).payload
        if len(p) < 16:
            raise DeviceError(f"STATS reply has {len(p)} bytes, expected at least 16")
        ok, bad, steps, replays = struct.unpack_from("<IIII", p)
        out = {"frames_ok": ok, "frames_bad": bad, "steps": steps, "replays": replays}
        if len(p) >= 24:
            out["link_ticks"] = struct.unpack_from("<Q", p, 16)[0]
        return out

    # --- learning ---------------------------------------------------------------------------

    def _learn_layer(self) -> int:
        ll = self.info().learn_layer
        if ll is None:
            raise DeviceError("this firmware has no learning layer (deploy with a learning layer)")
        return ll

    def set_plasticity(self, cfg) -> None:
        self._learn_layer()
        self.request(codec.PLASTICITY, codec.plasticity_payload(cfg))

    def set_label(self, label: int | None) -> None:
        self.request(codec.LABEL, struct.pack("<h", -1 if label is None else int(label)))

    def read_weights(self, shape: tuple[int, int]) -> np.ndarray:
        """The learning layer's weights (n_out, n_in), read in chunks that fit a frame."""
        self._learn_layer()
        total = shape[0] * shape[1]
        chunk = max(1, self.info().payload_room - 6)
        out = np.zeros(total, np.int64)
        for off in range(0, total, chunk):
            n = min(chunk, total - off)
            p = self.request(codec.READ_WEIGHTS, struct.pack("<IH", off, n)).payload
            got_off, got_n = struct.unpack("<IH", p[:6])
            if (got_off, got_n) != (off, n) or len(p) != 6 + n:
                raise DeviceError("READ_WEIGHTS reply does not match the request")
            out[off : off + n] = np.frombuffer(p[6:], np.int8)
        return out.reshape(shape)

    def write_weights(self, weights: np.ndarray) -> None:
        self._learn_layer()
        flat = np.asarray(weights, np.int64).ravel()
        chunk = max(1, self.info().payload_room - 4)
        for off in range(0, flat.size, chunk):
            part = flat[off : off + chunk].astype(np.int8).tobytes()
            self.request(codec.WRITE_WEIGHTS, struct.pack("<I", off) + part)

    def save_weights(self) -> int:
        """Persist the learned weights; returns the slot sequence number."""
        return struct.unpack("<I", self.request(codec.SAVE).payload)[0]

    def load_weights(self) -> int:
        return struct.unpack("<I", self.request(codec.LOAD).payload)[0]

    def run_sample(
        self, spikes: np.ndarray, steps_per_frame: int | None = 1, early_exit: int | None = None
    ) -> SampleOutput:
        """One sample (timesteps, n_inputs) of 0/1: reset, stream its timesteps, read the result.

        ``steps_per_frame``: timesteps per STEP frame; None sends as many as fit (one with
        ``early_exit``, which is decided after each frame) and halves that for the rest of the
        session each time a frame was damaged on the way, either way (on a noisy wire short
        frames get through; a reply that is only late, on a busy host, keeps the size).
        ``early_exit`` (0: exact, N: a lead of N spikes; contract.settled) stops sending
        timesteps once the prediction is settled; the result then covers the steps run.
        A device with CAP_STEP_FLAGS resets with the first frame and returns the result with
        the last (FLAG_RESET, FLAG_RESULT): no RESET or RESULT round trip of their own.
        A device with an audio front end (CAP_AUDIO) also takes int16 PCM (audio samples,), a
        whole number of its timesteps, sent as STEP_PCM: its front end makes the spikes."""
        from edgesnn.fixedpoint.contract import settled

        hello = self.info()
        pcm = np.asarray(spikes).dtype == np.int16
        if pcm:
            spikes = self._pcm_rows(np.asarray(spikes))
            fit = self._steps_that_fit(spikes, request=2 * hello.pcm_per_step)  # a step's PCM in the request
        else:
            spikes = np.asarray(spikes, bool)
            if spikes.ndim != 2 or spikes.shape[1] != hello.n_inputs:
                raise DeviceError(f"sample has shape {spikes.shape}, the device takes (timesteps, {hello.n_inputs})")
            fit = self._steps_that_fit(spikes)
        auto = steps_per_frame is None
        if auto:
            steps_per_frame = 1 if early_exit is not None else self._auto_steps
        n_steps = spikes.shape[0]
        flagged = bool(hello.capabilities & codec.CAP_STEP_FLAGS) and n_steps > 0
        t0 = time.perf_counter()
        if not flagged:
            self.reset()
        out = np.zeros((n_steps, hello.n_outputs), bool)
        done, start, res = n_steps, 0, None
        while start < n_steps:
            per_frame = max(1, min(int(steps_per_frame or 1), 255, fit))
            rows = spikes[start : start + per_frame]
            flags = codec.FLAG_RESET if flagged and start == 0 else 0
            if flagged and start + rows.shape[0] == n_steps and self._result_fits(rows.shape[0]):
                flags |= codec.FLAG_RESULT
            damaged = self.damage_seen()
            reply = (
                self.request(codec.STEP_PCM, codec.pcm_steps(rows), flags=flags) if pcm else self.step_rows(rows, flags)
            ).payload
            outs, res = codec.parse_step_reply(reply, hello.n_outputs, bool(flags & codec.FLAG_RESULT))
            if len(outs) != rows.shape[0]:
                raise DeviceError(f"STEP reply carries {len(outs)} timesteps, {rows.shape[0]} were sent")
            if auto and self.damage_seen() > damaged and per_frame > 1:
                self._auto_steps = steps_per_frame = per_frame // 2
            for k, idx in enumerate(outs):
                out[start + k, idx] = True
            start += len(outs)
            if early_exit is not None and settled(out[:start].sum(axis=0), n_steps - start, early_exit):
                done = start
                break
        if res is None:  # stopped early, a last frame with no room for it, or a device without flags
            res = self.result()
        return SampleOutput(spikes=out, result=res, seconds=time.perf_counter() - t0, steps=done)

    def _pcm_rows(self, pcm: np.ndarray) -> np.ndarray:
        """PCM (audio samples,) as timesteps (timesteps, samples per timestep) for this device."""
        hello = self.info()
        if not hello.capabilities & codec.CAP_AUDIO:
            raise DeviceError(f"{self.port}: the device has no audio front end; send it input spikes")
        D = hello.pcm_per_step
        if pcm.ndim != 1 or pcm.size == 0 or pcm.size % D:
            raise DeviceError(f"PCM of shape {pcm.shape}: the device takes whole timesteps of {D} audio samples")
        return pcm.reshape(-1, D)

    def step_rows(self, rows: np.ndarray, flags: int = 0) -> codec.Frame:
        """One STEP request for timesteps ``rows`` (timesteps, n_inputs) of 0/1 in whichever
        encoding is shorter (index lists or bitmaps); returns the reply frame."""
        n = rows.shape[0]
        if n * ((self.info().n_inputs + 7) // 8) < 2 * n + 2 * int(rows.sum()):
            return self.request(codec.STEP_DENSE, self._bitmaps(rows), flags=flags)
        return self.request(codec.STEP_SPARSE, codec.sparse_steps([np.flatnonzero(r) for r in rows]), flags=flags)

    def _result_fits(self, steps: int) -> bool:
        """Whether a STEP reply of ``steps`` timesteps has room for the RESULT after them."""
        hello = self.info()
        reply = 1 + steps * ((hello.n_outputs + 7) // 8) + codec.result_bytes(hello.n_outputs)
        return reply <= hello.payload_room

    def damage_seen(self) -> int:
        """Damaged frames so far, both ways: replies this side rejected, requests the device did."""
        return self.decoder.errors + self.damaged_requests

    def _steps_that_fit(self, spikes: np.ndarray, tail: int = 0, per_step: int = 0, request: int | None = None) -> int:
        """Timesteps of ``spikes`` that any frame of them holds, request and reply: a frame is
        sent in the shorter encoding, so a step takes at most the smaller of its worst index list
        and its bitmap (or ``request`` bytes, a STEP_PCM step's samples); a reply takes each
        step's outputs and ``per_step`` bytes more, after ``tail`` bytes of its own (a stream's)."""
        hello = self.info()
        room = hello.payload_room - 1  # the timestep count
        if request is None:
            request = min(2 + 2 * int(spikes.sum(axis=1).max(initial=0)), (hello.n_inputs + 7) // 8)
        reply = (hello.n_outputs + 7) // 8 + per_step
        return max(1, min(room // max(request, 1), (room - tail) // reply))

    def stream(self, inputs: np.ndarray, steps_per_frame: int | None = 1, early_exit: int | None = None):
        """Yield a SampleOutput per sample of ``inputs`` (samples, timesteps, n_inputs), or of
        int16 PCM (samples, audio samples) for a device with an audio front end."""
        a = np.asarray(inputs)
        for sample in a if a.dtype == np.int16 else a.astype(bool):
            yield self.run_sample(sample, steps_per_frame, early_exit)
