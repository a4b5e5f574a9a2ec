"""Data-parallel training on torch.distributed: what the runner and the engine do differently when
torchrun (or `--nproc N`) starts several processes. One process gets `Sync`, whose every method
hands its input back unchanged, so a single-process run computes exactly what it always did.

    torchrun --nproc_per_node W -m textseq train-lm ...     RANK, WORLD_SIZE, MASTER_ADDR/PORT set
      start()            init_process_group: nccl on CUDA, gloo elsewhere; LOCAL_RANK picks the GPU
      rank 0             takes the run lock, writes run.json, prepares the data first, writes checkpoints,
                         metrics, logs and the report; the other ranks log errors only
      batches.shard(r, W)  rank r trains its own share of every step (LM rows, classifier documents)
      DDP(model)          gradients averaged while the last micro-batch of a step runs backward
                          (no_sync before it); the engine rescales them by W / (items of all ranks)
      finish_grads()      large embedding tables, left out of DDP, averaged row-wise (textseq.train.rowsync)
      agree()             a stop (budget, Ctrl-C, callback) and the time-budget schedule decided once
      from_main()         validation metrics: every rank evaluates the whole set, rank 0's numbers count
      means()             logged training means over all ranks' items (items/s: the job's rate)
      gather()            carried state, RNG states and data positions of all ranks into a checkpoint

A rank that dies makes a collective fail on the others (gloo notices the closed connection at once,
the timeout bounds the rest); they stop with a TextseqError naming the rank instead of hanging.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import time
from typing import Any, Callable, ContextManager, Iterator, NoReturn, Sequence

import torch
from torch import nn

from textseq.errors import ConfigError, TextseqError, one_line
from textseq.train.device import DistInfo, dist_info, resolve_device
from textseq.train.rowsync import RowwiseGrads, rowwise_tables

log = logging.getLogger(__name__)

BACKENDS = {"cuda": "nccl", "cpu": "gloo", "mps": "gloo"}  # device type -> process-group backend
SKIPS_PARAMETERS = (nn.AdaptiveLogSoftmaxWithLoss,)  # modules whose parameters a step may leave without gradient
TIMEOUT_ENV = "TEXTSEQ_DIST_TIMEOUT"  # seconds a collective may wait (an evaluation must fit in it)
DEFAULT_TIMEOUT = 1800.0
SETTLE_SECONDS = 0.2  # stop(): time for the backend's worker threads to let go of the last collectives


def backend_for(device: torch.device) -> str:
    """The collective backend for `device`: nccl on CUDA, gloo on CPU (and MPS)."""
    return BACKENDS[device.type]


def start(device_name: str = "auto") -> DistInfo:
    """This process's place in the job; with WORLD_SIZE > 1, join the process group first."""
    import torch.distributed as dist

    info = dist_info()
    if info.world_size < 1 or not 0 <= info.rank < info.world_size:
        raise ConfigError(f"RANK={info.rank} does not fit WORLD_SIZE={info.world_size}")
    if info.world_size == 1 or dist.is_initialized():
        return info
    device = resolve_device(device_name)
    if device.type == "cuda":  # "cuda" then means this rank's own GPU
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={os.environ[TIMEOUT_ENV]!r}: expected seconds") from None
    try:
        dist.init_process_group(backend_for(device), timeout=datetime.timedelta(seconds=timeout))
    except Exception as err:  # rendezvous failures come as several types
        raise TextseqError(f"rank {info.rank} of {info.world_size}: cannot join the process group: {one_line(err)}") from None
    if not info.is_main:  # one voice: the other ranks report only errors
        logging.getLogger("textseq").setLevel(logging.ERROR)
    return info


def stop() -> None:
    """Leave the process group (if one was joined), after a pause of SETTLE_SECONDS with the GIL released.

    A gloo worker thread lets go of a collective's tensors just after the caller has seen the
    collective complete; when that is the last reference to a tensor that Python has dropped, it
    takes the GIL to free it. Were the interpreter already shutting down by then, taking the GIL
    ends the thread, and gloo calls std::terminate: SIGABRT after a run that succeeded (about one
    two-rank run in 30 here, one in 10 for a script that exits right after its last collective).
    destroy_process_group() cannot join those threads: once DistributedDataParallel has used the
    process group, the backend outlives it. The pause lets them finish while Python is whole."""
    import torch.distributed as dist

    if dist.is_initialized():
        time.sleep(SETTLE_SECONDS)
        dist.destroy_process_group()


def lost_rank(info: DistInfo, err: BaseException) -> TextseqError:
    """The error a rank stops with when a collective fails: another rank died or stopped answering."""
    others = [r for r in range(info.world_size) if r != info.rank]
    who = f"rank {others[0]}" if len(others) == 1 else f"one of ranks {', '.join(map(str, others))}"
    return TextseqError(f"rank {info.rank} of {info.world_size}: {who} stopped answering (it died, was killed or "
                        f"hangs); see its own error above. Collective error: {one_line(err)}")


def abort(err: TextseqError) -> NoReturn:
    """Say why this rank stops, then end the process at once (exit 1). A process group that lost a
    peer cannot be torn down: destroying it, or leaving it to the interpreter's exit, makes gloo's
    threads call std::terminate (SIGABRT) after the message, so the clean exit code would be lost."""
    import os
    import sys

    logging.getLogger("textseq").error("%s", err)
    for handler in logging.getLogger("textseq").handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def is_collective_error(err: BaseException) -> bool:
    """True for the errors torch.distributed raises when a peer is gone or a collective timed out."""
    dist_error = getattr(torch.distributed, "DistError", ())
    if dist_error and isinstance(err, dist_error):
        return True
    text = str(err).lower()  # older torch raises plain RuntimeErrors from the backends: name them, not any I/O error
    return isinstance(err, RuntimeError) and any(k in text for k in ("gloo", "nccl", "processgroup"))


@contextlib.contextmanager
def main_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. preparing data into the run directory), the others after it."""
    import torch.distributed as dist

    if info.world_size > 1 and not info.is_main:
        _call(info, dist.barrier)
    yield
    if info.world_size > 1 and info.is_main:
        _call(info, dist.barrier)


def broadcast(info: DistInfo, obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    import torch.distributed as dist

    if info.world_size == 1:
        return obj
    box = [obj]
    _call(info, dist.broadcast_object_list, box, src=0)
    return box[0]


def _call(info: DistInfo, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as err:
        if is_collective_error(err):
            raise lost_rank(info, err) from None
        raise


def shard_batches(batches: Any, info: DistInfo) -> None:
    """Give this rank its share of every training step; ConfigError for batches that cannot be shared."""
    if info.world_size == 1:
        return
    if not hasattr(batches, "shard"):
        raise ConfigError(f"{type(batches).__name__} has no shard(rank, world_size): it cannot train in "
                          f"{info.world_size} processes")
    batches.shard(info.rank, info.world_size)


class _StepModule(nn.Module):
    """model.step as a forward(), so DistributedDataParallel sees every micro-batch go through it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, state: Any) -> Any:
        return self.model.step(batch, state)  # type: ignore[operator]


class Sync:
    """The engine's collectives for one process: each hands its input back unchanged."""

    active = False

    def __init__(self, info: DistInfo) -> None:
        self.info = info

    def wrap(self, model: nn.Module, device: torch.device) -> Callable[[Any, Any], Any]:
        """The callable that runs one micro-batch: model.step, or its DDP-wrapped form."""
        return model.step  # type: ignore[return-value]

    def no_sync(self, last: bool) -> ContextManager:
        """Accumulate gradients locally unless this is the last micro-batch of the step."""
        return contextlib.nullcontext()

    def average_grads(self, params: Sequence[torch.Tensor]) -> None:
        """Average gradients across ranks by hand (a step whose last micro-batch ran under no_sync)."""

    def finish_grads(self) -> None:
        """Average what DDP leaves out (embedding tables, row-wise); once per step, before the gradients are read."""

    def totals(self, count: int, loss_sum: float) -> tuple[int, float]:
        """Items and loss sum of the step over all ranks."""
        return count, loss_sum

    def agree(self, requested: str | None, schedule: Any) -> str | None:
        """The stop reason all ranks take (and rank 0's schedule length, which a time budget moves)."""
        return requested

    def from_main(self, obj: Any) -> Any:
        """Rank 0's value of `obj`."""
        return obj

    def means(self, interval: Any) -> dict[str, float]:
        """The logged training means of a RunningMeans interval (over all ranks; items/s of them all)."""
        return interval.means()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (on every rank)."""
        return [obj]


class DistSync(Sync):
    """The engine's collectives across the ranks of an initialised process group."""

    active = True

    def __init__(self, info: DistInfo) -> None:
        super().__init__(info)
        self.ddp: Any = None
        self.rows: Any = None  # RowwiseGrads of the embedding tables DDP leaves out
        self.device = torch.device("cpu")  # where the small tensors of totals/agree live (nccl needs the GPU)

    def wrap(self, model: nn.Module, device: torch.device) -> Callable[[Any, Any], Any]:
        from torch.nn.parallel import DistributedDataParallel

        self.device = device
        ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
        # DDP only ever syncs the parameters that are trainable when it is built: frozen ones (which
        # gradual unfreezing may thaw later) join as trainable, and every step then looks for the
        # parameters that got no gradient, as it must for a model that skips some (adaptive softmax tails).
        frozen = [p for p in model.parameters() if not p.requires_grad]
        skips = bool(frozen) or any(isinstance(m, SKIPS_PARAMETERS) for m in model.modules())
        for p in frozen:
            p.requires_grad_(True)
        step_module = _StepModule(model)
        tables = rowwise_tables(model, prefix="model.")
        if tables:  # their gradients are mostly zero rows: averaged row-wise by finish_grads, not by DDP
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(step_module, list(tables))
            self.rows = RowwiseGrads(tables, self.info.world_size, lambda fn, *a, **k: _call(self.info, fn, *a, **k))
            self.rows.broadcast()
        try:  # DDP broadcasts rank 0's weights now, so every rank starts from the same model
            self.ddp = _call(self.info, DistributedDataParallel, step_module, device_ids=ids,
                             find_unused_parameters=skips, gradient_as_bucket_view=True)
        finally:
            for p in frozen:
                p.requires_grad_(False)
        return self._forward

    def _forward(self, batch: Any, state: Any) -> Any:
        return _call(self.info, self.ddp, batch, state)

    def no_sync(self, last: bool) -> ContextManager:
        return contextlib.nullcontext() if last else self.ddp.no_sync()

    def average_grads(self, params: Sequence[torch.Tensor]) -> None:
        import torch.distributed as dist

        own = self.rows.params if self.rows is not None else set()
        grads = [p.grad for p in params if p.grad is not None and id(p) not in own]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        _call(self.info, dist.all_reduce, flat)
        flat /= self.info.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def finish_grads(self) -> None:
        if self.rows is not None:
            self.rows.average()

    def totals(self, count: int, loss_sum: float) -> tuple[int, float]:
        import torch.distributed as dist

        t = torch.tensor([float(count), loss_sum], dtype=torch.float64, device=self.device)
        _call(self.info, dist.all_reduce, t)
        total, loss = t.tolist()
        return int(round(total)), loss

    def agree(self, requested: str | None, schedule: Any) -> str | None:
        import torch.distributed as dist

        total = getattr(schedule, "total_steps", None)
        mine = torch.tensor([int(requested is not None), -1 if total is None else int(total)], dtype=torch.int64,
                            device=self.device)
        rows = [torch.zeros_like(mine) for _ in range(self.info.world_size)]
        _call(self.info, dist.all_gather, rows, mine)
        flags = [r.tolist() for r in rows]
        if total is not None:  # a time-budget cosine re-estimates its length from rank 0's clock only
            schedule.total_steps = flags[0][1]
        if not any(flag for flag, _ in flags):
            return None
        reasons = self.gather(requested)
        return next(r for r in reasons if r is not None)

    def from_main(self, obj: Any) -> Any:
        return broadcast(self.info, obj)

    def means(self, interval: Any) -> dict[str, float]:
        from textseq.train.metrics import perplexity

        parts = self.gather((interval.sums, interval.count, time.perf_counter() - interval.started))
        count = sum(p[1] for p in parts)
        if count == 0:
            return {}
        out = {key: sum(p[0].get(key, 0.0) for p in parts) / count for key in parts[0][0]}
        out["ppl"] = perplexity(out["loss"])
        out["items_per_sec"] = count / max(max(p[2] for p in parts), 1e-9)  # the job's rate, all ranks together
        return out

    def gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.info.world_size
        _call(self.info, dist.all_gather_object, out, obj)
        return out


def make_sync(info: DistInfo) -> Sync:
    """DistSync in a multi-process job (process group joined), Sync otherwise."""
    import torch.distributed as dist

    if info.world_size == 1:
        return Sync(info)
    if not dist.is_initialized():
        raise ConfigError(f"WORLD_SIZE={info.world_size} but no process group: start the job with torchrun "
                          "(or --nproc), which joins every rank")
    return DistSync(info)


def cpu_tree(obj: Any) -> Any:
    """`obj` with every tensor moved to the CPU, for gathering to rank 0."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(cpu_tree(v) for v in obj)
    if isinstance(obj, dict):
        return {k: cpu_tree(v) for k, v in obj.items()}
    return obj
