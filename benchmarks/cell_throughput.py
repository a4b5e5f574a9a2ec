"""Training tokens/s of the recurrent cells at (about) the same parameter count, side by side.

Each model is a char-level RecurrentLM (vocabulary 65, embedding 64, untied decoder) whose width is
chosen so its parameter count is the closest to the fused LSTM 1x256's (the char_lstm preset's size):

    lstm 1x256 (torch's fused kernel) | gru 1xH | mingru 2xH | minlstm 2xH | mingru residual 2 blocks xH (mlp_ratio 1, as char_mingru_res)

minGRU/minLSTM run their CPU default (scan: sequential, the fused loop); "mingru 2xH log-scan" is
the same model through the parallel log-space scan (scan: log), to show what each costs on a CPU.

The loop is the tight one (as lm_throughput.py's `tight`): (B, T) windows already in memory, the
state carried and detached, forward / cross-entropy / backward / clip / AdamW step. The data are
random ids: speed does not depend on them. Every round runs every model once in a rotated order
(the machine is shared and noisy); the table shows medians over rounds, and the ratio to the LSTM
is the median of the per-round ratios.

    .venv/bin/python benchmarks/cell_throughput.py [--bptt 128 512] [--threads 2] [--rounds 3] [--steps 8]

The GFLOP/s column is what each model's matrix products do: every weight outside the embedding
(whose lookup multiplies nothing) is one multiply-add per token forward and two backward, so a
training token costs about 6 x those weights in floating-point operations, whatever the cell. The
machine's ceiling is the best fp32 GFLOP/s of one large matrix product on the same threads
(`--peak-size`); ceiling / the LSTM's GFLOP/s bounds the speed-up any model of this parameter
count could show over the LSTM on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from textseq.models.lm import LMConfig, RecurrentLM
from common import describe, machine_info

VOCAB, EMB = 65, 64
# name -> LMConfig keys (hidden_size is solved for unless given)
MODELS: dict[str, dict[str, Any]] = {
    "lstm 1x256": {"cell": "lstm", "num_layers": 1, "hidden_size": 256},
    "gru 1xH": {"cell": "gru", "num_layers": 1},
    "mingru 2xH": {"cell": "mingru", "num_layers": 2},
    "mingru 2xH log-scan": {"cell": "mingru", "num_layers": 2, "scan": "log"},
    "minlstm 2xH": {"cell": "minlstm", "num_layers": 2},
    "mingru residual 2xH": {"cell": "mingru", "num_layers": 2, "block": "residual", "mlp_ratio": 1.0},
}


def build(spec: dict[str, Any], hidden: int) -> RecurrentLM:
    """The benchmark's LM for one spec at a given width."""
    keys = {k: v for k, v in spec.items() if k != "hidden_size"}
    return RecurrentLM(LMConfig(vocab_size=VOCAB, emb_dim=EMB, hidden_size=hidden, tie_weights=False,
                                dropout_emb=0.0, dropout_layers=0.0, dropout_out=0.0, **keys))


def n_params(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())


def matched_width(spec: dict[str, Any], target: int) -> int:
    """The hidden size whose model has the parameter count closest to `target`."""
    if "hidden_size" in spec:
        return spec["hidden_size"]
    lo, hi = 8, 4096
    while hi - lo > 1:  # parameter count grows with the width
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n_params(build(spec, mid)) < target else (lo, mid)
    return min((lo, hi), key=lambda h: abs(n_params(build(spec, h)) - target))


def flops_per_token(model: RecurrentLM) -> int:
    """Training FLOPs per token of the matrix products: 6 x the weights outside the embedding table."""
    return 6 * (n_params(model) - model.embedding.weight.numel())


def matmul_peak(size: int, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of a (size x size) @ (size x size) product on torch's current threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def tokens_per_second(model: RecurrentLM, batch: int, bptt: int, steps: int, warmup: int, seed: int = 0) -> float:
    """Training tokens/s of the tight loop over `steps` measured steps after `warmup`."""
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, VOCAB, (steps + warmup, batch, bptt + 1), generator=g)  # (S, B, T+1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    state, start = None, 0.0
    for i, window in enumerate(data):
        if i == warmup:
            start = time.perf_counter()
        x, y = window[:, :-1], window[:, 1:]  # (B, T) each
        logits, state = model(x, state)  # (B, T, V)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return steps * batch * bptt / (time.perf_counter() - start)


def main() -> None:
    """Measure, print the table (and JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bptt", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--peak-size", type=int, default=2048, help="side of the matrix product that measures the ceiling")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = n_params(build(MODELS["lstm 1x256"], 256))
    widths = {name: matched_width(spec, target) for name, spec in MODELS.items()}
    names = list(MODELS)
    results: dict[str, Any] = {"machine": machine_info(threads=args.threads), "rows": []}
    for bptt in args.bptt:
        speeds: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:  # rotated order
                torch.manual_seed(r)
                model = build(MODELS[name], widths[name])
                speeds[name].append(tokens_per_second(model, args.batch, bptt, args.steps, args.warmup, seed=r))
        for name in names:
            ratios = [s / l for s, l in zip(speeds[name], speeds["lstm 1x256"])]
            model = build(MODELS[name], widths[name])
            tps = statistics.median(speeds[name])
            results["rows"].append({"model": name, "hidden": widths[name], "params": n_params(model),
                                    "bptt": bptt, "tokens_per_s": tps, "vs_lstm": statistics.median(ratios),
                                    "gflops": tps * flops_per_token(model) / 1e9})
    results["matmul_peak_gflops"] = matmul_peak(args.peak_size)
    results["machine_after"] = machine_info(threads=args.threads)
    print(f"# {describe(results['machine'])} -> load after {results['machine_after']['loadavg_1m']}; "
          f"{args.threads} threads, batch {args.batch}, {args.rounds} rounds x {args.steps} steps")
    print("| model | hidden | params | T | tokens/s | vs LSTM | GFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in results["rows"]:
        print(f"| {row['model']} | {row['hidden']} | {row['params']:,} | {row['bptt']} | "
              f"{row['tokens_per_s']:,.0f} | {row['vs_lstm']:.2f}x | {row['gflops']:.1f} |")
    peak = results["matmul_peak_gflops"]
    for row in results["rows"]:
        if row["model"] == "lstm 1x256":
            print(f"# T={row['bptt']}: matmul ceiling {peak:.1f} GFLOP/s ({args.peak_size}^3 product); the LSTM runs at "
                  f"{row['gflops'] / peak:.0%} of it, so no model of its size can beat it by more than {peak / row['gflops']:.2f}x here")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
