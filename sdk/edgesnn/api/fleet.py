"""Fleets: several devices in one process, each streaming on its own thread, independently.

A fleet is N instances of an emulated or host board (the image built once, started N times),
or devices on several ports (already deployed, or real boards flashed one by one). Each device
streams the same data set through ``stream`` (connected by its port), so every device's every
output is held to the golden model exactly as a single stream is; a device that fails or
disappears ends its own stream with an ``error`` and the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesnn.api.model import PathLike, quantized
from edgesnn.errors import ArgumentError, DeviceError, EdgesnnError
from edgesnn.fixedpoint.qnetwork import QuantNetwork

if TYPE_CHECKING:
    from edgesnn.device.deploy import Deployment

#: the most devices one fleet starts (each emulator is a process with its own memory)
MAX_DEVICES = 64


@dataclass
class Member:
    """One device of a fleet: its name (``board-i`` for instances started here, else the port)
    and its deployment (its connection closed while it serves, so a stream can connect)."""

    name: str
    deployment: Deployment

    @property
    def port(self) -> str:
        return self.deployment.port

    @property
    def pid(self) -> int | None:
        """The emulator's or host process's id, for instances started here."""
        launched = self.deployment.launched
        return launched.proc.pid if launched is not None else None


def deploy_fleet(
    model: QuantNetwork | PathLike,
    board: str | None = None,
    *,
    devices: int = 1,
    ports: Sequence[str] = (),
    out: PathLike = "build/deploy",
    timeout: float = 2.0,
) -> list[Member]:
    """Bring up a fleet and leave it serving: ``devices`` instances of an emulated or host
    ``board`` (built once), or one device per port in ``ports`` (flashed first when ``board`` is
    a real board, else connected to as already deployed). Each answered HELLO with this model's
    hash. Stop them with ``stop_fleet``; on any failure the ones started are stopped.

    ```python
    fleet = edgesnn.api.deploy_fleet("digits.qsnn", "qemu-mps2-an385", devices=4)
    [m.port for m in fleet]
    edgesnn.api.stop_fleet(fleet)
    ```
    """
    from edgesnn.api.deploying import connect, deploy
    from edgesnn.firmware.boards import get_board

    qnet = quantized(model)
    ports = list(ports)
    if len(set(ports)) != len(ports):
        raise ArgumentError("{port} names a device twice: give each port once", names=["port"])
    if not 1 <= devices <= MAX_DEVICES:
        raise ArgumentError(f"{{devices}} must be 1 to {MAX_DEVICES}, got {devices}", names=["devices"])
    b = get_board(board) if board is not None else None
    started = b is not None and b.kind not in ("hardware", "platformio")
    if started and ports:
        raise ArgumentError(
            f"{b.name} is started here (emulated or host): use {{devices}}, not {{port}}",  # type: ignore[union-attr]
            names=["devices", "port"],
        )
    if not started and devices != 1 and len(ports) != devices:
        raise ArgumentError(
            "real or deployed devices are found by their ports: give {port} once per device", names=["port"]
        )
    if b is None and not ports:
        raise ArgumentError("give {board} (deploy first) or {port} (devices already deployed)", names=["board", "port"])
    members: list[Member] = []
    try:
        if started:
            from edgesnn.device.deploy import start_built
            from edgesnn.firmware.build import build

            res = build(qnet, b, Path(out), app="device")  # type: ignore[arg-type]
            for i in range(devices):
                d = start_built(qnet, b, res, timeout=timeout)  # type: ignore[arg-type]
                members.append(Member(f"{b.name}-{i}", d))  # type: ignore[union-attr]
        else:
            for i, p in enumerate(ports):
                d = (
                    deploy(qnet, str(board), Path(out) / f"device{i}", port=p, timeout=timeout)
                    if b
                    else connect(qnet, p, timeout=timeout)
                )
                members.append(Member(p, d))
    except BaseException:
        stop_fleet(members)
        raise
    for m in members:
        m.deployment.device.close()  # free each port for the stream that connects to it
    return members


def stop_fleet(members: Sequence[Member]) -> None:
    """Stop every instance started here (devices on ports are left as they are)."""
    for m in members:
        m.deployment.close()


def stream_fleet(
    model: QuantNetwork | PathLike,
    *,
    board: str | None = None,
    devices: int = 1,
    ports: Sequence[str] = (),
    members: Sequence[Member] | None = None,
    out: PathLike = "build/stream",
    timeout: float = 2.0,
    save_output: PathLike | None = None,
    on_row: Callable[[str, dict], None] | None = None,
    on_start: Callable[[str, dict], None] | None = None,
    on_end: Callable[[str, dict], None] | None = None,
    stop: threading.Event | None = None,
    on_members: Callable[[list[Member]], None] | None = None,
    **stream_options: Any,
) -> dict[str, Any]:
    """Stream a data set to every device of a fleet at once, each on its own thread.

    The fleet is ``members`` (``deploy_fleet``'s, left running), or one brought up here from
    ``board``/``devices``/``ports`` and stopped at the end. ``stream_options`` are ``stream``'s
    (dataset, limit, seconds, steps_per_frame, early_exit, realtime, tolerance_ms, row_spikes).
    ``on_start``/``on_row``/``on_end`` get the device's name with its identity, each row, and
    its summary; they are called from the devices' threads; ``on_members`` gets the fleet once
    it is up, before any stream starts. ``stop`` set ends every stream
    (``error`` "interrupted"), keeping what arrived. ``save_output`` PATH writes PATH-NAME.npz
    per device.

    Returns ``devices``, ``samples`` (samples or frames received, all devices), ``accuracy``
    (over all samples), ``mismatches``, ``retransmissions``, ``damaged_frames``, ``complete``
    (every device finished), ``errors`` and ``per_device`` (each device's ``stream`` summary,
    without rows, with its ``device`` name).
    """
    from edgesnn.api.device import check_stream_args, stream

    qnet = quantized(model)
    o = stream_options  # what does not apply, or a bad data set, fails here: before any device starts
    check_stream_args(qnet, o.get("dataset"), o.get("limit"), o.get("early_exit"), bool(o.get("realtime")))
    own = members is None
    fleet = (
        list(members)
        if members is not None
        else deploy_fleet(qnet, board, devices=devices, ports=ports, out=out, timeout=timeout)
    )
    if on_members is not None:
        on_members(fleet)
    stop = stop or threading.Event()
    results: dict[str, dict] = {}

    def run(m: Member) -> None:
        def row(r: dict) -> None:
            if stop.is_set():  # caught by the stream as a device error: it ends, keeping its rows
                raise DeviceError("interrupted")
            if on_row is not None:
                on_row(m.name, r)

        save = None if save_output is None else _per_device(save_output, m.name)
        try:
            s = stream(
                qnet,
                port=m.port,
                out=out,
                timeout=timeout,
                save_output=save,
                on_row=row,
                on_start=(lambda ident: on_start(m.name, ident)) if on_start is not None else None,
                **stream_options,
            )
            s.pop("rows", None)
        except EdgesnnError as e:  # this device could not stream at all (it went away, or refused)
            s = {"summary": True, "board": m.deployment.board, "samples": 0, "complete": False, "error": str(e)}
        s["device"] = m.name
        results[m.name] = s
        if on_end is not None:
            on_end(m.name, s)

    threads = [threading.Thread(target=run, args=(m,), name=f"edgesnn-{m.name}", daemon=True) for m in fleet]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout * 8 + 5)  # each stream ends at its next reply, or its device's timeout
    finally:
        if own:
            stop_fleet(fleet)
    return fleet_summary([results.get(m.name, _missing(m)) for m in fleet])


def _missing(m: Member) -> dict[str, Any]:
    return {"summary": True, "device": m.name, "samples": 0, "complete": False, "error": "interrupted"}


def _per_device(path: PathLike, name: str) -> Path:
    p = Path(path)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return p.with_name(f"{p.stem}-{safe}{p.suffix or '.npz'}")


def fleet_summary(per_device: list[dict[str, Any]]) -> dict[str, Any]:
    """The fleet's figures from its devices' summaries (``stream_fleet``'s return)."""
    n = [int(s.get("samples", s.get("frames", 0)) or 0) for s in per_device]
    frames = [int(s.get("frames", 0) or 0) for s in per_device]
    # per-sample streams score samples; continuous streams their detections (``detection_accuracy``)
    accs = [s.get("accuracy", s.get("detection_accuracy")) for s in per_device]
    acc = [(a, k) for a, k in zip(accs, n) if a is not None]
    out: dict[str, Any] = {
        "summary": True,
        "fleet": True,
        "devices": len(per_device),
        "samples": sum(n),
        "accuracy": sum(a * k for a, k in acc) / max(sum(k for _, k in acc), 1) if acc else None,
        "mismatches": sum(int(s.get("mismatches", 0) or 0) for s in per_device),
        "retransmissions": sum(int(s.get("retransmissions", 0) or 0) for s in per_device),
        "damaged_frames": sum(int(s.get("damaged_frames", 0) or 0) for s in per_device),
        "complete": all(s.get("complete") for s in per_device),
        "errors": [f"{s['device']}: {s['error']}" for s in per_device if s.get("error")],
        "per_device": per_device,
    }
    if any(frames):
        out["frames"] = sum(frames)
    return out
