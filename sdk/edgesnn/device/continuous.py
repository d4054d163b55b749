"""A continuous stream to a device: a recording's timesteps with no resets (protocol version 3).

The first STEP frame is flagged RESET | STREAM, every later one STREAM: each reply carries the
frame's output spikes, the running CRC-32 of every state since the reset (the self-check's
digest, chained over every timestep), synaptic events and ticks since the reset, and the
detections the device's decision rule made in the frame. Frames hold as many timesteps as fit
(request and the worst-case reply), halving on a damaged frame as ``Device.run_sample`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgesnn.device import codec
from edgesnn.device.client import Device
from edgesnn.errors import DeviceError


@dataclass
class FrameReply:
    """One STREAM frame as the device answered it."""

    start: int  # first timestep of the frame (since the stream's reset)
    outputs: np.ndarray  # (steps, n_outputs) bool
    tail: codec.StreamTail
    seconds: float  # wall time of the exchange
    input_events: int = 0  # input spikes sent in the frame
    due: float | None = None  # paced streams: when its last timestep ended on the recording's clock
    sent: float = 0.0  # time.perf_counter() when it was sent

    @property
    def end(self) -> int:
        return self.start + self.outputs.shape[0]


def stream_frames(
    dev: Device,
    chunks: Iterator[np.ndarray],
    steps_per_frame: int | None = None,
    pace_s: float | None = None,
) -> Iterator[FrameReply]:
    """Send the timesteps of ``chunks`` (arrays (steps, n_inputs) of 0/1, in order) as one
    continuous stream; yield each frame's reply as it arrives. int16 chunks (steps, samples per
    timestep) are PCM for a device with an audio front end (CAP_AUDIO), sent as STEP_PCM.

    ``pace_s`` (seconds per timestep): a live sensor's pace. A frame is sent no earlier than its
    last timestep ends on the recording's clock, started when the first frame is sent; one that
    falls behind is sent at once (``FrameReply.due`` and ``sent`` tell by how much)."""
    hello = dev.info()
    if not hello.capabilities & codec.CAP_STREAM:
        raise DeviceError(
            f"the firmware on {dev.port or 'the link'} has no stream mode (capability STREAM): "
            "build and deploy it with this edgesnn"
        )
    start, first, auto, clock = 0, True, steps_per_frame is None, 0.0
    per = 255 if auto else int(steps_per_frame or 1)
    for chunk in chunks:
        pcm = np.asarray(chunk).dtype == np.int16
        if pcm and (not hello.capabilities & codec.CAP_AUDIO or np.shape(chunk)[1:] != (hello.pcm_per_step,)):
            raise DeviceError(
                f"PCM of shape {np.shape(chunk)}: the device takes "
                + (f"timesteps of {hello.pcm_per_step} audio samples" if hello.capabilities & codec.CAP_AUDIO
                   else "input spikes (it has no audio front end)")
            )  # fmt: skip
        chunk = np.asarray(chunk) if pcm else np.asarray(chunk, bool)
        request = 2 * hello.pcm_per_step if pcm else None
        pos = 0
        while pos < chunk.shape[0]:
            # a reply holds the stream tail and, at worst, a detection (2 bytes) at every step
            fit = dev._steps_that_fit(chunk[pos : pos + per], tail=codec.STREAM_TAIL, per_step=2, request=request)
            n = max(1, min(per, fit, 255, chunk.shape[0] - pos))
            rows = chunk[pos : pos + n]
            flags = codec.FLAG_STREAM | (codec.FLAG_RESET if first else 0)
            damaged = dev.damage_seen()
            due = None
            if pace_s is not None:
                clock = time.perf_counter() if first else clock
                due = clock + (start + n) * pace_s
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            t0 = time.perf_counter()
            reply = (
                dev.request(codec.STEP_PCM, codec.pcm_steps(rows), flags=flags) if pcm else dev.step_rows(rows, flags)
            )
            outs, tail = codec.parse_stream_reply(reply.payload, hello.n_outputs)
            if len(outs) != n:
                raise DeviceError(f"STEP reply carries {len(outs)} timesteps, {n} were sent")
            if auto and dev.damage_seen() > damaged and per > 1:
                per = max(1, n // 2)
            out = np.zeros((n, hello.n_outputs), bool)
            for k, idx in enumerate(outs):
                out[k, idx] = True
            events = 0 if pcm else int(rows.sum())  # PCM: the front end's spikes are counted by the caller
            yield FrameReply(start, out, tail, time.perf_counter() - t0, events, due, t0)
            first = False
            start += n
            pos += n
