"""What one data-parallel classifier step pays for, part by part (one thread per process).

    python benchmarks/ddp_step_parts.py [--rounds 3]

Prepares the rt_bilstm data (a one-step run), then times, on real batches of Rotten Tomatoes
sentences (consecutive in length order, as the length buckets make them):

    compute       forward + backward at batch B = 64 (a rank's share) and 2B = 128 (one process)
    optimizer     AdamW over every trainable parameter: torch's per-parameter loop, foreach (the
                  engine's default), fused (train.optimizer.fused=true)
    all-reduce    2 gloo processes (torchrun): the embedding gradient all-reduced dense, as DDP did,
                  against textseq.train.rowsync's row-wise average of the rows the batches touched

Each figure is the fastest of --rounds rounds (the least disturbed by other work); the load average
is printed, since all of them are CPU-bound.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import describe, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64


def prepare(run_dir: Path) -> None:
    """A one-step rt_bilstm run: its data/ folder holds the encoded sentences."""
    cmd = [sys.executable, "-m", "textseq", "-q", "train-classifier", "-c", "rt_bilstm", "-o", str(run_dir),
           "--no-progress", "--set", "train.max_steps=1", "--set", "train.eval_every=1"]
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)


def batches(run_dir: Path, size: int, count: int = 20) -> tuple[list, int]:
    """`count` padded batches of `size` sentences of similar length, and the vocabulary size."""
    from textseq.models.classifier import ClassificationBatch

    z = np.load(run_dir / "data" / "train.npz")
    bounds = np.r_[0, z["offsets"]] if z["offsets"][0] != 0 else z["offsets"]
    docs = [d for d in np.split(z["tokens"], bounds[1:-1]) if len(d)]
    rng = np.random.default_rng(0)
    order = np.argsort([len(d) + rng.random() for d in docs])
    out = []
    for start in rng.integers(0, len(docs) - 2 * BATCH, count):
        picked = [docs[i] for i in order[start:start + 2 * BATCH:2 * BATCH // size]]
        ids = torch.zeros(len(picked), max(map(len, picked)), dtype=torch.long)  # (B, T)
        for r, d in enumerate(picked):
            ids[r, :len(d)] = torch.from_numpy(d.astype(np.int64))
        out.append(ClassificationBatch(ids, torch.tensor([len(d) for d in picked]), torch.zeros(len(picked), dtype=torch.long)))
    return out, int(z["tokens"].max()) + 1


def model_for(vocab: int) -> torch.nn.Module:
    from textseq.models.classifier import ClassifierConfig, build_classifier

    torch.manual_seed(0)
    return build_classifier(ClassifierConfig(vocab_size=vocab, emb_dim=50, hidden_size=128, pooling="last",
                                             ff_hidden=[64], dropout_emb=0.3, dropout_rnn=0.3, dropout_ff=0.3))


def one_process(run_dir: Path, rounds: int) -> None:
    from textseq.train.config import OptimizerConfig
    from textseq.train.optim import build_optimizer, param_groups

    small, vocab = batches(run_dir, BATCH)
    large, _ = batches(run_dir, 2 * BATCH)
    model = model_for(vocab)

    def compute(bs: list) -> float:
        t = time.perf_counter()
        for b in bs:
            model.zero_grad(set_to_none=True)
            out = model.step(b)
            (out.loss * out.count).backward()
        return (time.perf_counter() - t) / len(bs)

    def optimizer(kind: str) -> float:
        if kind == "loop":
            opt = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3, foreach=False)
        else:
            opt = build_optimizer(model, OptimizerConfig(fused=kind == "fused"))
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
        t = time.perf_counter()
        for _ in range(30):
            opt.step()
        return (time.perf_counter() - t) / 30

    parts = {"compute B=64": lambda: compute(small), "compute 2B=128": lambda: compute(large),
             "AdamW per-parameter loop": lambda: optimizer("loop"), "AdamW foreach (default)": lambda: optimizer("foreach"),
             "AdamW fused": lambda: optimizer("fused")}
    times = {name: min(fn() for _ in range(rounds)) for name, fn in parts.items()}
    rows = np.mean([len(torch.unique(b.ids)) for b in small])
    print(f"vocabulary {vocab:,} x 50, {sum(p.numel() for p in model.parameters()):,} parameters; "
          f"a rank's batch of {BATCH} looks up {rows:.0f} rows")
    for name, seconds in times.items():
        print(f"  {name:<26} {seconds * 1000:6.2f} ms")


def collectives(run_dir: Path, rounds: int) -> None:
    """Run under torchrun: dense all-reduce of the embedding gradient against the row-wise average."""
    import torch.distributed as dist

    from textseq.train.rowsync import RowwiseGrads

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    small, vocab = batches(run_dir, BATCH)
    model = model_for(vocab)
    rows = RowwiseGrads({"embedding.weight": model.embedding}, world, lambda fn, *a, **k: fn(*a, **k))
    model.train()
    grads = []
    for b in small[rank::world]:  # each rank its own batches: the union differs from either rank's rows
        model.zero_grad(set_to_none=True)
        out = model.step(b)
        (out.loss * out.count).backward()
        grads.append((b.ids, model.embedding.weight.grad.clone()))

    def dense() -> None:
        for _, g in grads:
            flat = g.clone().div_(world)
            dist.all_reduce(flat)

    def rowwise() -> None:
        for ids, g in grads:
            model.embedding.weight.grad = g.clone()
            rows._ids[0].append(ids.reshape(-1))
            rows.average()

    def copy_only() -> None:
        for _, g in grads:
            g.clone()

    times = {}
    for name, fn in (("dense all-reduce (DDP before)", dense), ("row-wise average (rowsync)", rowwise), ("gradient copy alone", copy_only)):
        best = []
        for _ in range(rounds):
            dist.barrier()
            t = time.perf_counter()
            fn()
            best.append((time.perf_counter() - t) / len(grads))
        times[name] = min(best)
    if rank == 0:
        for name, seconds in times.items():
            print(f"  {name:<30} {seconds * 1000:6.2f} ms per step")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--collectives-in", type=Path, help=argparse.SUPPRESS)  # the torchrun child
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.collectives_in:
        collectives(args.collectives_in, args.rounds)
        return
    print(describe(machine_info()))
    with tempfile.TemporaryDirectory(prefix="textseq-parts-") as tmp:
        run_dir = Path(tmp) / "rt"
        prepare(run_dir)
        one_process(run_dir, args.rounds)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        __file__, "--rounds", str(args.rounds), "--collectives-in", str(run_dir)], env=env, check=True)
    print(f"load average (1 min) after {machine_info()['loadavg_1m']}")


if __name__ == "__main__":
    main()
