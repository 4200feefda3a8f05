"""Process-group set-up for runs launched by ``torchrun`` (one process per device).

``torchrun --nproc_per_node=N script.py`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; a plain ``python script.py`` sets none of them and runs as the
single process of a world of size 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def environment_context() -> DistributedContext:
    """The rank and world size torchrun put in the environment (a world of 1 without torchrun)."""
    try:
        return DistributedContext(
            rank=int(os.environ.get("RANK", 0)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )
    except ValueError as error:
        raise ValueError(f"RANK / LOCAL_RANK / WORLD_SIZE must be integers ({error})") from None


def device_for(context: DistributedContext, device: torch.device) -> torch.device:
    """One CUDA device per local rank; other device types are shared by every process."""
    if device.type == "cuda" and context.enabled:
        return torch.device("cuda", context.local_rank)
    return device


def init_process_group(context: DistributedContext, device: torch.device) -> bool:
    """Join the process group (NCCL on CUDA, gloo otherwise); return whether this call created it."""
    if not context.enabled or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo", rank=context.rank, world_size=context.world_size
    )
    return True


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a tensor over processes (identity in a world of 1)."""
    if context.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def destroy_process_group(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()
