"""A noisy wire on purpose: byte-level fault injection for testing the link.

:class:`FaultyLink` wraps any pyserial-like link (``write``, ``read``, ``flush``, ``close``,
``in_waiting``) and :class:`FaultyProxy` is a loopback TCP proxy (for ``socket://`` ports, e.g. a
deployed QEMU board). Each byte, in each direction, is independently flipped (one random bit),
dropped, duplicated or delayed with the given probabilities, from a seeded generator.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FaultRates:
    """Per-byte probabilities of each fault in one direction; ``delay_s`` per delayed byte."""

    flip: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.005

    def __post_init__(self):
        for name in ("flip", "drop", "duplicate", "delay"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v!r}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s!r}")

    @property
    def active(self) -> bool:
        return any((self.flip, self.drop, self.duplicate, self.delay))


@dataclass
class FaultCounts:
    flipped: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    bytes: int = 0


@dataclass
class Mangler:
    """Applies one direction's faults to chunks of bytes; keeps counts."""

    rates: FaultRates
    rng: np.random.Generator
    counts: FaultCounts = field(default_factory=FaultCounts)

    def __call__(self, data: bytes) -> list[tuple[bytes, float]]:
        """(bytes, seconds to wait before sending them) pieces of the damaged chunk."""
        self.counts.bytes += len(data)
        if not data or not self.rates.active:
            return [(bytes(data), 0.0)]
        r = self.rates
        a = np.frombuffer(bytes(data), np.uint8).copy()
        u = self.rng.random((4, len(a)))
        flip = u[0] < r.flip
        a[flip] ^= (1 << self.rng.integers(0, 8, int(flip.sum()))).astype(np.uint8)
        drop, dup, delay = u[1] < r.drop, u[2] < r.duplicate, u[3] < r.delay
        self.counts.flipped += int(flip.sum())
        self.counts.dropped += int(drop.sum())
        self.counts.duplicated += int((dup & ~drop).sum())
        self.counts.delayed += int((delay & ~drop).sum())
        reps = np.where(drop, 0, np.where(dup, 2, 1))
        pieces, start = [], 0
        out = np.repeat(a, reps)
        ends = np.cumsum(reps)
        for i in np.flatnonzero(delay & ~drop):  # cut before each delayed byte
            cut = int(ends[i] - reps[i])
            pieces.append((out[start:cut].tobytes(), 0.0))
            start = cut
            pieces.append((b"", r.delay_s))
        pieces.append((out[start:].tobytes(), 0.0))
        return [p for p in pieces if p[0] or p[1]]


class FaultyLink:
    """A pyserial-like link whose bytes are damaged on the way out (``tx``) and in (``rx``).

    A delayed incoming byte is late by the reader's clock: it and what follows it are held back
    until their time comes, and reads before then return what was released (possibly nothing),
    as a serial port's timed-out read does. Sleeping inside ``read`` instead would hand a late
    reply over whole, so a reader's per-try deadline could never see it late.
    """

    def __init__(self, link, tx: FaultRates = FaultRates(), rx: FaultRates = FaultRates(), seed: int = 0):
        self.link = link
        rng = np.random.default_rng(seed)
        self.tx, self.rx = Mangler(tx, rng), Mangler(rx, np.random.default_rng(rng.integers(2**63)))
        self._held: list[tuple[float, bytes]] = []  # (monotonic release time, bytes), in order
        self._poll_s = 0.002  # how long a read waits for held bytes before returning empty

    def _released(self) -> int:
        now = time.monotonic()
        return sum(len(b) for t, b in self._held if t <= now)  # release times never decrease

    @property
    def in_waiting(self) -> int:
        return self._released() or (0 if self._held else getattr(self.link, "in_waiting", 0))

    def write(self, data: bytes) -> int:
        for piece, wait in self.tx(data):
            if wait:
                self.link.flush()
                time.sleep(wait)
            if piece:
                self.link.write(piece)
        return len(data)

    def flush(self) -> None:
        self.link.flush()

    def read(self, n: int = 1) -> bytes:
        if not self._held:
            at = time.monotonic()
            for piece, wait in self.rx(self.link.read(n)):
                at += wait  # each delayed byte makes it and every later byte that much later
                if piece:
                    self._held.append((at, piece))
        out = b""
        while self._held and len(out) < n:
            t, piece = self._held[0]
            if t > time.monotonic():
                if not out:
                    time.sleep(min(self._poll_s, max(0.0, t - time.monotonic())))
                break
            take = n - len(out)
            out += piece[:take]
            if take < len(piece):
                self._held[0] = (t, piece[take:])
            else:
                self._held.pop(0)
        return out

    def close(self) -> None:
        self.link.close()


class FaultyProxy:
    """Loopback TCP proxy: clients connect to ``port`` (``socket://127.0.0.1:port``), bytes go
    to ``target`` (host, port) damaged by ``to_device``, and come back damaged by ``to_host``.
    Serves one client at a time until :meth:`stop`."""

    def __init__(
        self,
        target: tuple[str, int],
        to_device: FaultRates,
        to_host: FaultRates,
        *,
        seed: int = 0,
        listen_port: int = 0,
    ):
        if target[0] not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the proxy forwards to loopback addresses only, not {target[0]!r}")
        self.target = target
        rng = np.random.default_rng(seed)
        self.down, self.up = Mangler(to_device, rng), Mangler(to_host, np.random.default_rng(rng.integers(2**63)))
        self.server = socket.create_server(("127.0.0.1", listen_port))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> FaultyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _pump(self, src: socket.socket, dst: socket.socket, mangle: Mangler, done: threading.Event) -> None:
        src.settimeout(0.1)
        while not (self._stop.is_set() or done.is_set()):
            try:
                data = src.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                for piece, wait in mangle(data):
                    if wait:
                        time.sleep(wait)
                    if piece:
                        dst.sendall(piece)
            except OSError:
                break
        done.set()

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                device = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, device):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            done = threading.Event()
            pumps = [
                threading.Thread(target=self._pump, args=(client, device, self.down, done), daemon=True),
                threading.Thread(target=self._pump, args=(device, client, self.up, done), daemon=True),
            ]
            for t in pumps:
                t.start()
            for t in pumps:
                t.join()
            client.close()
            device.close()
