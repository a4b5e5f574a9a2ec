"""Training throughput of `train-lm` against the limit of the same model on this machine.

Three loops train the same model (the config's RecurrentLM, char_lstm by default) with the same
optimizer (AdamW, the config's lr/betas/eps/weight decay), the same global-norm clipping, the same
batch size, bptt and number of threads, on the Shakespeare training split:

    textseq    the real `textseq.lm.train_lm` (prepare -> LMBatches -> Trainer.fit), with a timing
               callback added to the Trainer it builds; evaluation and checkpoints are pushed past
               the measured steps and timed on their own (the final evaluation + save of fit()).
    tight      the model and AdamW on (B, T) tensors already in memory, carried detached state,
               forward / cross-entropy / backward / clip / step and nothing else: the limit.
    tight-sf   the tight loop with the recurrent layer run seq-first (same parameters): on CPU torch's
               batch-first LSTM/GRU costs extra transposes, so this is the limit of the same maths.
    reference  a loop written the way pytorch/examples word_language_model/main.py writes one:
               batchify() into (T_total, B) columns, get_batch() slices, repackage_hidden(), a
               seq-first Embedding -> LSTM/GRU -> Linear model with log_softmax + NLLLoss,
               model.zero_grad(), clip_grad_norm_, loss.item() every step (AdamW instead of the
               example's hand-written SGD update, for comparability).

Each round runs the three once, in a rotating order, each for --warmup steps and then --steps
measured steps; the table shows the median over rounds (the machine is noisy), and the ratios
textseq/tight (target >= 0.95) and textseq/reference are medians of the per-round ratios.
Defaults (4 loops x 5 rounds x 230 steps) take about 10-15 minutes on a 2-core CPU.

    .venv/bin/python benchmarks/lm_throughput.py [--config configs/lm/char_lstm.yaml] [--steps 200]
        [--warmup 30] [--rounds 5] [--set train.num_threads=2] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import textseq.lm.task as lm_task
from textseq.data.lm import LMBatches
from textseq.lm.config import LMJobConfig, load_job_config
from textseq.lm.prepare import prepare
from textseq.models.lm import RecurrentLM
from textseq.train.callbacks import Callback
from textseq.train.optim import param_groups
from common import machine_info

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "lm" / "char_lstm.yaml"
TARGET = 0.95  # textseq / tight


# ------------------------------------------------------------------------------------ machine


# ------------------------------------------------------------------------------------ (a) textseq


class StepClock(Callback):
    """Wall time from the end of optimizer step `warmup` to the end of step `warmup + steps`, and the
    tokens trained on in between (the counts the trainer reports)."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.start = self.end = self.last = 0.0
        self.tokens = 0
        self.threads = 0
        self.eval_s: list[float] = []
        self.checkpoint_s: list[float] = []

    # The trainer emits on_step_end, then (when due) evaluates -> on_eval_end, then checkpoints ->
    # on_checkpoint: the gaps between these events are the evaluation and checkpoint times.
    def on_eval_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        self.eval_s.append(now - self.last)
        self.last = now

    def on_checkpoint(self, trainer: Any, path: Any) -> None:
        now = time.perf_counter()
        self.checkpoint_s.append(now - self.last)
        self.last = now

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        self.last = time.perf_counter()
        if step == self.warmup:
            self.start, self.tokens = time.perf_counter(), 0
            self.threads = torch.get_num_threads()
        elif self.warmup < step <= self.warmup + self.steps:
            self.tokens += int(logs["count"])
            if step == self.warmup + self.steps:
                self.end = time.perf_counter()
                trainer.request_stop("benchmark steps done")  # ends fit() as max_steps would


def run_textseq(config: LMJobConfig, template: Path, work: Path, warmup: int, steps: int) -> dict[str, Any]:
    """One real train_lm run into a fresh run dir (its encoded data copied from `template`)."""
    run_dir = Path(tempfile.mkdtemp(prefix="textseq-", dir=work))
    shutil.copy2(template / "codec.json", run_dir / "codec.json")
    shutil.copytree(template / "data", run_dir / "data")  # prepare() finds it and reuses it
    clock = StepClock(warmup, steps)
    with contextlib.redirect_stderr(io.StringIO()):  # prepare's "reusing" note
        lm_task.train_lm(config, run_dir, progress=False, callbacks=[clock])
    shutil.rmtree(run_dir, ignore_errors=True)
    if not clock.end:
        raise RuntimeError(f"train_lm stopped before step {warmup + steps}; does --set put a step/epoch limit on it?")
    return {"seconds": clock.end - clock.start, "tokens": clock.tokens, "threads": clock.threads,
            "eval_s": clock.eval_s[-1] if clock.eval_s else None,
            "checkpoint_s": clock.checkpoint_s[-1] if clock.checkpoint_s else None}


# ------------------------------------------------------------------------------------ (b) tight loop


def premade_windows(tokens: np.ndarray, batch: int, bptt: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `n` full (B, T) training windows as int64 tensors in memory (cycled if the epoch is shorter)."""
    windows = []
    for w in LMBatches(tokens, batch, bptt, random_offset=False):
        if w.x.size(1) == bptt:
            windows.append((w.x, w.y))  # (B, T) each
        if len(windows) == n:
            break
    return [windows[i % len(windows)] for i in range(n)]


def _timed_loop(model: RecurrentLM, config: LMJobConfig, windows: list[tuple[torch.Tensor, torch.Tensor]], warmup: int,
                steps: int, forward: Any) -> dict[str, Any]:
    """AdamW + clipping + detached carried state over pre-made windows; `forward(x, y, state)` returns
    (loss, state). Timed from the end of step `warmup` to the end of step `warmup + steps`."""
    opt_cfg = config.train.optimizer
    optimizer = torch.optim.AdamW(param_groups(model, opt_cfg.weight_decay), lr=opt_cfg.lr, betas=tuple(opt_cfg.betas),
                                  eps=opt_cfg.eps)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    clip = config.train.clip_norm if config.train.clip_norm is not None else float("inf")
    state, tokens, start = None, 0, 0.0
    for i, (x, y) in enumerate(windows[: warmup + steps]):
        loss, state = forward(x, y, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        if i + 1 == warmup:
            start = time.perf_counter()
        elif i + 1 > warmup:
            tokens += y.numel()
    return {"seconds": time.perf_counter() - start, "tokens": tokens, "threads": torch.get_num_threads()}


def run_tight(config: LMJobConfig, vocab: int, windows: list[tuple[torch.Tensor, torch.Tensor]], warmup: int,
              steps: int) -> dict[str, Any]:
    """Same RecurrentLM + AdamW + clipping on pre-made tensors; nothing else."""
    torch.manual_seed(config.seed)
    model = RecurrentLM(config.lm_config(vocab)).train()

    def forward(x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, state = model(x, state)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)), state

    return _timed_loop(model, config, windows, warmup, steps, forward)


def run_tight_seq_first(config: LMJobConfig, vocab: int, windows: list[tuple[torch.Tensor, torch.Tensor]], warmup: int,
                        steps: int) -> dict[str, Any]:
    """The tight loop with the recurrent layer run seq-first: RecurrentLM's own embedding, dropout and
    decoder, and a (T, B, H) copy of its batch-first torch RNN. Same parameters, same work; only the
    memory layout the fused kernel sees differs (the batch-first one transposes in and out)."""
    torch.manual_seed(config.seed)
    model = RecurrentLM(config.lm_config(vocab)).train()
    m = config.model
    fused = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}.get(m.cell)
    if fused is None:
        raise ValueError(f"cell {m.cell!r} is not one of torch's fused layers")
    rnn = fused(m.emb_dim, m.hidden_size, m.num_layers, dropout=m.dropout_layers if m.num_layers > 1 else 0.0)
    rnn.load_state_dict(model.rnn.state_dict())
    model.rnn = rnn  # registered in place of the batch-first one, so the optimizer sees it

    def forward(x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        emb = model.drop_emb(model.embedding(x.t()))  # (T, B, E)
        out, state = model.rnn(emb, state)  # (T, B, H)
        out = model.drop_out(out)
        if model.proj is not None:
            out = model.proj(out)  # (T, B, E)
        logits = model.decoder(out)  # (T, B, V)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.t().reshape(-1)), state

    return _timed_loop(model, config, windows, warmup, steps, forward)


# ------------------------------------------------------------------------------------ (c) reference loop
# Written in the style of pytorch/examples word_language_model (main.py + model.py), not copied.


class RNNModel(nn.Module):
    """Seq-first encoder -> recurrent -> decoder, log-probabilities out, as in the example."""

    def __init__(self, rnn_type: str, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout_in: float,
                 dropout_out: float, dropout_layers: float) -> None:
        super().__init__()
        self.ntoken = ntoken
        self.drop_in, self.drop_out = nn.Dropout(dropout_in), nn.Dropout(dropout_out)
        self.encoder = nn.Embedding(ntoken, ninp)
        layer_dropout = dropout_layers if nlayers > 1 else 0.0
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=layer_dropout)  # seq-first
        self.decoder = nn.Linear(nhid, ntoken)
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input: torch.Tensor, hidden: Any) -> tuple[torch.Tensor, Any]:
        emb = self.drop_in(self.encoder(input))  # (T, B, E)
        output, hidden = self.rnn(emb, hidden)  # (T, B, H)
        decoded = self.decoder(self.drop_out(output)).view(-1, self.ntoken)  # (T*B, V)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz: int) -> Any:
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    # Cut the stream into bsz columns, dropping the remainder:
    #   a b c d e f g h i j k l m n o p q r s t u v w x, bsz 4 ->  a g m s
    #                                                              b h n t
    #                                                              c i o u  ...  (T_total, bsz)
    # Columns are independent streams; rows advance in time.
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Rows i .. i+seq_len-1 are inputs, the same rows one step later are targets (flattened):
    #   a g m s                 data = a g m s      target = b h n t c i o u
    #   b h n t   bptt = 2  ->         b h n t
    #   c i o u
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].reshape(-1)


def repackage_hidden(h: Any) -> Any:
    """Cut the graph behind the hidden state, so backprop stops at the window boundary."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def run_reference(config: LMJobConfig, vocab: int, train_data: torch.Tensor, warmup: int, steps: int) -> dict[str, Any]:
    """The example's training loop over batchified data, with AdamW."""
    m, t = config.model, config.train
    rnn_type = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}.get(m.cell.removesuffix("_scratch"))
    if rnn_type is None:
        raise SystemExit(f"the reference loop has no counterpart of cell {m.cell!r}")
    torch.manual_seed(config.seed)
    model = RNNModel(rnn_type, vocab, m.emb_dim, m.hidden_size, m.num_layers, m.dropout_emb, m.dropout_out,
                     m.dropout_layers)
    criterion = nn.NLLLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.optimizer.lr, betas=tuple(t.optimizer.betas),
                                  eps=t.optimizer.eps, weight_decay=t.optimizer.weight_decay)
    clip = t.clip_norm if t.clip_norm is not None else float("inf")
    bptt, bsz = config.data.bptt, config.data.batch_size
    model.train()
    total_loss, tokens, start = 0.0, 0, 0.0
    hidden = model.init_hidden(bsz)
    starts = range(0, (len(train_data) - 1) // bptt * bptt, bptt)  # full windows only, as the others
    for n in range(warmup + steps):
        data, targets = get_batch(train_data, starts[n % len(starts)], bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total_loss += loss.item()
        if n + 1 == warmup:
            start = time.perf_counter()
        elif n + 1 > warmup:
            tokens += targets.numel()
    return {"seconds": time.perf_counter() - start, "tokens": tokens, "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------------ driver


def bench_config(path: str, overrides: list[str], warmup: int, steps: int) -> LMJobConfig:
    """The job config with evaluation/checkpoints pushed past the measured steps and a time limit that
    never ends the run first (StepClock stops it). No max_steps, so train_lm still sizes the cosine
    by time (textseq.train.callbacks.TimeBudgetCosine) as a real run does, callback cost included."""
    never = 10**9
    return load_job_config(path, [
        *overrides,
        "train.max_minutes=100000",
        f"train.eval_every={never}", f"train.checkpoint_every={never}",
        "sample.length=0",
    ])


def fmt_rate(values: list[float]) -> str:
    return f"{statistics.median(values):>10,.0f}  {min(values):>10,.0f}  {max(values):>10,.0f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="an LM job config (default: char_lstm.yaml)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, as `textseq train-lm --set` (repeatable)")
    ap.add_argument("--steps", type=int, default=200, help="measured optimizer steps per loop and round")
    ap.add_argument("--warmup", type=int, default=30, help="unmeasured steps before them")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the three loops (median taken)")
    ap.add_argument("--no-seq-first", action="store_true", help="skip the tight-sf loop (the tight loop run seq-first)")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or args.rounds < 1:
        ap.error("--steps, --warmup and --rounds must be >= 1")

    config = bench_config(args.config, args.overrides, args.warmup, args.steps)
    threads = config.train.num_threads or torch.get_num_threads()
    torch.set_num_threads(threads)  # the Trainer sets the same from the config
    if config.train.device not in ("cpu", "auto") or (config.train.device == "auto" and torch.cuda.is_available()):
        raise SystemExit("this benchmark measures the CPU loops; use --set train.device=cpu")
    info = machine_info()
    B, T = config.data.batch_size, config.data.bptt
    m = config.model
    print(f"machine: {info['cpu']} | {info['cores']} cores | torch {info['torch']} | python {info['python']} | "
          f"threads {threads} | load average {info['loadavg_1m']}")

    with tempfile.TemporaryDirectory(prefix="textseq-bench-lm-") as tmp:
        work = Path(tmp)
        template = work / "template"
        prepared = prepare(config.data, template, progress=False)
        vocab = prepared.codec.size
        tokens = np.asarray(prepared.splits["train"].tokens)
        n_params = sum(p.numel() for p in RecurrentLM(config.lm_config(vocab)).parameters())
        print(f"config: {args.config} | {m.cell} {m.num_layers}x{m.hidden_size}, emb {m.emb_dim}, vocab {vocab}, "
              f"{n_params / 1e6:.2f}M parameters | batch {B} x bptt {T} | AdamW lr {config.train.optimizer.lr}, "
              f"clip {config.train.clip_norm} | {len(tokens):,} training tokens")
        print(f"each loop: {args.warmup} warm-up + {args.steps} measured steps ({args.steps * B * T:,} tokens); "
              f"{args.rounds} round(s), order rotated each round\n")
        windows = premade_windows(tokens, B, T, args.warmup + args.steps)
        columns = batchify(torch.from_numpy(tokens.astype(np.int64)), B)  # (T_total, B)

        runners: dict[str, Callable[[], dict[str, Any]]] = {
            "textseq": lambda: run_textseq(config, template, work, args.warmup, args.steps),
            "tight": lambda: run_tight(config, vocab, windows, args.warmup, args.steps),
            "tight-sf": lambda: run_tight_seq_first(config, vocab, windows, args.warmup, args.steps),
            "reference": lambda: run_reference(config, vocab, columns, args.warmup, args.steps),
        }
        if config.model.cell not in ("lstm", "gru", "rnn") or args.no_seq_first:
            del runners["tight-sf"]
        names = list(runners)
        results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(args.rounds):
            k = r % len(names)
            order = names[k:] + names[:k]
            line = []
            for name in order:
                res = runners[name]()
                res["tokens_per_s"] = res["tokens"] / res["seconds"]
                results[name].append(res)
                line.append(f"{name} {res['tokens_per_s']:,.0f}")
            print(f"round {r + 1}/{args.rounds}: " + " | ".join(line) + " tokens/s", flush=True)

    rates = {n: [r["tokens_per_s"] for r in results[n]] for n in names}
    ratio_tight = [a / b for a, b in zip(rates["textseq"], rates["tight"])]
    ratio_ref = [a / b for a, b in zip(rates["textseq"], rates["reference"])]
    ref_tight = [a / b for a, b in zip(rates["reference"], rates["tight"])]
    print(f"\n{'loop':<10}  {'tokens/s':>10}  {'min':>10}  {'max':>10}  {'ms/step':>8}  threads")
    for n in names:
        ms = statistics.median(r["seconds"] / args.steps * 1000 for r in results[n])
        print(f"{n:<10}  {fmt_rate(rates[n])}  {ms:>8.1f}  {results[n][0]['threads']}")
    rt, rr = statistics.median(ratio_tight), statistics.median(ratio_ref)
    print(f"\ntextseq / tight      {rt:.3f}  (target >= {TARGET}: {'met' if rt >= TARGET else 'NOT met'}; "
          f"per round {', '.join(f'{v:.3f}' for v in ratio_tight)})")
    print(f"textseq / reference  {rr:.3f}  (per round {', '.join(f'{v:.3f}' for v in ratio_ref)})")
    print(f"reference / tight    {statistics.median(ref_tight):.3f}")
    if "tight-sf" in rates:
        sf = [a / b for a, b in zip(rates["textseq"], rates["tight-sf"])]
        layout = [a / b for a, b in zip(rates["tight-sf"], rates["tight"])]
        print(f"textseq / tight-sf   {statistics.median(sf):.3f}  (tight-sf / tight {statistics.median(layout):.3f}: "
              "what running the recurrent layer seq-first would give)")

    # What evaluation and checkpoints add at the config's cadence (they were outside the measured steps).
    evals = [r["eval_s"] for r in results["textseq"] if r["eval_s"] is not None]
    saves = [r["checkpoint_s"] for r in results["textseq"] if r["checkpoint_s"] is not None]
    full = None
    if evals and saves:
        raw = load_job_config(args.config, args.overrides).train
        step_s = statistics.median(r["seconds"] / args.steps for r in results["textseq"])
        e, c = statistics.median(evals), statistics.median(saves)
        every, ck_every = raw.eval_every, raw.checkpoint_interval
        per_step = step_s + e / every + c / ck_every
        full = B * T / per_step
        print(f"\noutside the measured steps: one evaluation ({config.data.eval_tokens or 'all'} valid tokens) "
              f"{e:.2f} s, one checkpoint {c:.2f} s; at eval_every={every}, checkpoint every {ck_every} steps they "
              f"add {100 * (per_step / step_s - 1):.1f}% -> textseq with evaluation and checkpoints "
              f"{full:,.0f} tokens/s ({full / statistics.median(rates['tight']):.3f} of tight)")
    if args.json:
        out = {"machine": info, "threads": threads, "config": args.config, "overrides": args.overrides,
               "batch_size": B, "bptt": T, "warmup": args.warmup, "steps": args.steps, "rounds": args.rounds,
               "results": results, "median_tokens_per_s": {n: statistics.median(v) for n, v in rates.items()},
               "textseq_over_tight": rt, "textseq_over_reference": rr, "textseq_with_eval_tokens_per_s": full}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
