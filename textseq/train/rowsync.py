"""Row-wise averaging of embedding gradients across ranks.

An nn.Embedding's gradient is a dense (V, E) tensor whose only non-zero rows are the ids its batch
looked up: a classifier over a 20,000-word GloVe table touches about a thousand rows a step, yet
DistributedDataParallel would all-reduce all 20,000 (4 MB, as long as a step's compute on two
cores). So such tables are left out of DDP and averaged here, in two small collectives:

    touched ids of this rank (forward pre-hook)  -> (V,) uint8 mask, all-reduce MAX  -> the union, U rows
    grad[union] / W                    (U, E)    -> all-reduce SUM                   -> grad[union]

Rows outside the union are zero on every rank, so the result equals the dense average (divided
before the sum, as DDP does). Tables whose weight is shared with another module (a tied LM
decoder) get a dense gradient and stay with DDP; so do sparse=True tables.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

MIN_ROWS = 1024  # smaller tables (characters, labels) are cheap to all-reduce whole


def rowwise_tables(model: nn.Module, prefix: str = "") -> dict[str, nn.Embedding]:
    """The dense, untied nn.Embedding tables of `model` worth averaging row-wise, by parameter name."""
    uses: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        uses[id(p)] = uses.get(id(p), 0) + 1
    return {f"{prefix}{name}.weight": m for name, m in model.named_modules()
            if isinstance(m, nn.Embedding) and not m.sparse and m.num_embeddings >= MIN_ROWS
            and uses.get(id(m.weight), 0) == 1}


class RowwiseGrads:
    """Records the ids each table looks up while training and averages their gradient rows across ranks."""

    def __init__(self, tables: dict[str, nn.Embedding], world_size: int, call: Callable[..., Any]) -> None:
        self.tables = list(tables.values())
        self.world_size = world_size
        self._call = call  # runs a collective, turning a lost peer into the engine's error
        self._ids: list[list[torch.Tensor]] = [[] for _ in self.tables]
        for i, table in enumerate(self.tables):
            table.register_forward_pre_hook(self._recorder(i))

    @property
    def params(self) -> set[int]:
        """ids of the parameters this object averages (DDP and average_grads leave them alone)."""
        return {id(t.weight) for t in self.tables}

    def _recorder(self, i: int) -> Callable[..., None]:
        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            if module.training and torch.is_grad_enabled():  # evaluation lookups get no gradient
                self._ids[i].append(args[0].detach().reshape(-1))

        return record

    def broadcast(self, src: int = 0) -> None:
        """Rank `src`'s tables on every rank (DDP broadcasts only the parameters it owns)."""
        import torch.distributed as dist

        for table in self.tables:
            self._call(dist.broadcast, table.weight.data, src)

    def average(self) -> None:
        """Average the recorded rows' gradients over the ranks; forget the recorded ids."""
        import torch.distributed as dist

        for table, ids in zip(self.tables, self._ids):
            weight = table.weight
            if weight.grad is None and not weight.requires_grad:  # frozen on every rank alike
                ids.clear()
                continue
            if weight.grad is None:  # this rank's share of the step never reached the table
                weight.grad = torch.zeros_like(weight)
            mask = torch.zeros(table.num_embeddings, dtype=torch.uint8, device=weight.device)  # (V,)
            if ids:
                mask[torch.cat(ids)] = 1
            ids.clear()
            self._call(dist.all_reduce, mask, op=dist.ReduceOp.MAX)
            rows = mask.nonzero().squeeze(1)  # (U,) in id order, the same on every rank
            compact = weight.grad.index_select(0, rows).div_(self.world_size)  # (U, E)
            self._call(dist.all_reduce, compact)
            weight.grad.index_copy_(0, rows, compact)
