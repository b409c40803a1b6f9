"""Process-group glue: one process, or N under ``torchrun`` (DDP).

Under ``torchrun`` the environment holds RANK, LOCAL_RANK and WORLD_SIZE; without it this
is a single process of rank 0. Rank 0 alone writes files and shows progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its host."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def from_environment() -> Dist:
    """The torchrun-assigned rank and world size, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def device_for(requested: str, ctx: Dist) -> torch.device:
    """``auto`` is this process's GPU when CUDA is there, else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return torch.device(requested)


def start(ctx: Dist, device: torch.device) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPUs); no-op for one process."""
    if not ctx.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        rank=ctx.rank,
        world_size=ctx.world,
        device_id=device if device.type == "cuda" else None,
    )


def stop(ctx: Dist) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Dist) -> None:
    if ctx.enabled:
        dist.barrier()


def broadcast(ctx: Dist, value: object) -> object:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_true(ctx: Dist, flag: bool, device: torch.device) -> bool:
    """True only when ``flag`` holds on every rank."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def mean(ctx: Dist, values: torch.Tensor) -> torch.Tensor:
    """Element-wise mean of ``values`` over ranks."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= ctx.world
    return values
