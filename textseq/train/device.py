"""Device choice, mixed precision and the (future) distributed rank, each a small pure function."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import ContextManager, Mapping

import torch

from textseq.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; an explicit name must be available."""
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but torch sees no CUDA GPU; use device=auto or device=cpu")
    if name == "mps" and not mps_ok:
        raise ConfigError("device=mps but the MPS backend is not available; use device=auto or device=cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda, mps")
    return torch.device(name)


PRECISIONS = ("fp32", "bf16", "fp16")  # autocast choices; fp16 needs CUDA


def check_precision(device: torch.device, precision: str) -> None:
    """Reject combinations that would silently do something else."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r}: expected fp32, bf16 or fp16")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision=fp16 needs a CUDA device (got {device.type}); use bf16 or fp32")


def autocast_context(device: torch.device, precision: str) -> ContextManager:
    """The autocast context for `precision`: nothing for fp32, torch.autocast for bf16/fp16."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) job; only rank 0 writes logs and checkpoints."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that owns logging and checkpoint writing."""
        return self.rank == 0


def dist_info(env: Mapping[str, str] | None = None) -> DistInfo:
    """Read RANK / WORLD_SIZE as set by torchrun (defaults 0 / 1)."""
    env = os.environ if env is None else env
    try:
        return DistInfo(rank=int(env.get("RANK", "0")), world_size=int(env.get("WORLD_SIZE", "1")))
    except ValueError:
        raise ConfigError(f"RANK/WORLD_SIZE must be integers, got {env.get('RANK')!r}/{env.get('WORLD_SIZE')!r}") from None
