"""Row-wise embedding gradients: which tables take that path, and 2 gloo ranks through the engine's
DistSync average them to the gradient one process gets from both ranks' batches."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch import nn

from textseq.train.protocol import StepOutput
from textseq.train.rowsync import MIN_ROWS, rowwise_tables

VOCAB = MIN_ROWS + 500


class TinyModel(nn.Module):
    """A large table, a small one and a linear head: the step's loss is a mean over the batch."""

    def __init__(self, tie: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 4)
        self.small = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 3)
        self.out = nn.Linear(4, VOCAB, bias=False)
        if tie:
            self.out.weight = self.embedding.weight

    def step(self, batch: Any, state: Any = None) -> StepOutput:
        ids, small = batch  # (B, T), (B,)
        x = self.embedding(ids).mean(1) + self.small(small)  # (B, 4)
        loss = self.head(x).logsumexp(-1).mean() + 0.0 * self.out.weight.sum()
        return StepOutput(loss=loss, count=len(ids), metrics={})


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    # rank 0 looks up low ids, rank 1 high ones and a few shared: the union differs from either rank's rows
    return [(torch.randint(0, 800, (6, 5), generator=g), torch.randint(0, 10, (6,), generator=g)),
            (torch.randint(700, VOCAB, (6, 5), generator=g), torch.randint(0, 10, (6,), generator=g))]


def test_only_large_untied_dense_tables_go_row_wise() -> None:
    assert list(rowwise_tables(TinyModel())) == ["embedding.weight"]
    assert rowwise_tables(TinyModel(tie=True)) == {}  # a tied decoder's gradient is dense
    sparse = TinyModel()
    sparse.embedding.sparse = True
    assert rowwise_tables(sparse) == {}


def _rank(rank: int, port: int, path: str) -> None:
    import torch.distributed as dist

    from textseq.train.device import DistInfo
    from textseq.train.distributed import DistSync

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(rank)  # different initial weights: the engine must broadcast rank 0's table
    model = TinyModel()
    sync = DistSync(DistInfo(rank=rank, world_size=2))
    forward = sync.wrap(model, torch.device("cpu"))
    out = forward(batches()[rank], None)
    (out.loss * out.count).backward()
    sync.finish_grads()
    save_file({n: p.grad.contiguous() for n, p in model.named_parameters()} | {"weight": model.embedding.weight.detach()},
              f"{path}.{rank}")
    dist.destroy_process_group()


def test_two_ranks_average_rows_like_the_dense_gradient(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.pop("RANK", None)
    mp.spawn(_rank, args=(port, str(tmp_path / "grads")), nprocs=2, join=True)
    got = [load_file(str(tmp_path / f"grads.{r}")) for r in range(2)]
    torch.manual_seed(0)
    model = TinyModel()
    for batch in batches():  # one process, both batches: the sum of both ranks' gradients
        out = model.step(batch)
        (out.loss * out.count).backward()
    assert torch.equal(got[0]["weight"], got[1]["weight"]) and torch.equal(got[0]["weight"], model.embedding.weight)
    for name, p in model.named_parameters():
        expected = p.grad / 2  # DDP's average over the ranks
        assert torch.equal(got[0][name], got[1][name]), name
        assert torch.allclose(got[0][name], expected, atol=1e-7, rtol=1e-6), name
    looked_up = torch.zeros(VOCAB, dtype=torch.bool)
    looked_up[torch.cat([ids.reshape(-1) for ids, _ in batches()])] = True
    assert torch.equal(got[0]["embedding.weight"].abs().sum(1) > 0, looked_up)  # both ranks' rows, no other
