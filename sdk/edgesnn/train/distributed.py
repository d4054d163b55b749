"""Data-parallel training with torch DistributedDataParallel, started by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
without them (a plain ``edgesnn train``) nothing here is used. Backend: gloo on CPU, nccl on
CUDA. Every rank draws the same shuffled global batches (same seed); rank r trains on the r-th
contiguous chunk of each batch. The loss of a chunk is its *sum* of per-sample losses divided
by the global batch size and multiplied by the world size, so that DDP's gradient *average*
equals the single-process gradient of the same global batch: with the same seed and global
batch, 1 and N processes follow the same trajectory up to floating-point summation order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> Context:
    """The torchrun rank/world size, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    return Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(ctx: Context, device: str) -> None:
    """Join the process group (no-op for a single process)."""
    if ctx.world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)


def stop(ctx: Context) -> None:
    if ctx.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: Context, device: str) -> torch.nn.Module:
    if ctx.world_size <= 1:
        return model
    ids = [torch.device(device).index or 0] if device.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(idx: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's contiguous chunk of a global batch of indices."""
    if ctx.world_size <= 1:
        return idx
    return idx.tensor_split(ctx.world_size)[ctx.rank]


def resolve_device(device: str, ctx: Context) -> str:
    """``cuda`` picks this rank's local GPU; ``cpu`` stays."""
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return f"cuda:{ctx.local_rank}" if device == "cuda" else device
