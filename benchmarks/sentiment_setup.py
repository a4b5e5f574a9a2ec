"""What benchmarks/sentiment.py trains from: the labelled texts, each model's config and --set
overrides (IMDB configs reshaped for Rotten Tomatoes, small-label runs, the LM-free twin of
lm_transfer), and the word LMs that lm_transfer starts from (given, or trained here with the
command configs/sentiment/imdb_lm_transfer.yaml documents)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from textseq.config import read_yaml
from textseq.corpora.readers import iter_documents

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT = ROOT / "configs" / "sentiment"
NEURAL_CONFIGS = {
    "bag": SENTIMENT / "bag_of_embeddings.yaml",
    "bilstm_glove": SENTIMENT / "imdb_bilstm_glove.yaml",
    "gru": SENTIMENT / "imdb_gru.yaml",
    "lm_transfer": SENTIMENT / "imdb_lm_transfer.yaml",
    "lm_scratch": SENTIMENT / "imdb_lm_transfer.yaml",
}
RT_CONFIG = SENTIMENT / "rt_bilstm.yaml"
LM_CONFIG = ROOT / "configs" / "lm" / "word_lstm.yaml"
LM_DOCUMENTED_MINUTES = 20.0
SMALL_DATA_EPOCHS = 15  # neural models' epochs with --limit-train (the configs' 3-4 suit 20,000 reviews)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- data
def read_texts(source: str) -> tuple[list[str], list[str]]:
    """(texts, labels) of a labelled CORPUS:SPLIT or JSONL file, as textseq reads it."""
    texts, labels = [], []
    for doc in iter_documents(source, text_column="text", label_column="label"):
        texts.append(doc.text)
        labels.append(str(doc.label))
    return texts, labels


def limited_train(corpus: str, n: int, out: Path) -> str:
    """The first n documents of CORPUS:train as a JSONL file (the split files interleave the labels)."""
    path = out / "data" / f"train-first{n}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    texts, labels = read_texts(f"{corpus}:train")
    with path.open("w", encoding="utf-8") as f:
        for text, label in zip(texts[:n], labels[:n]):
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return str(path)


# --------------------------------------------------------------------------------------- configs
def rt_overrides() -> list[str]:
    """rt_bilstm.yaml's data settings and training cadence as --set overrides for the other configs."""
    rt = read_yaml(RT_CONFIG)
    d, t = rt["data"], rt["train"]
    out = [f"data.{k}={d[k]}" for k in ("train", "valid", "test", "min_freq", "max_size", "max_tokens", "truncate")]
    out += [f"train.{k}={t[k]}" for k in ("max_epochs", "max_minutes", "eval_every", "log_every")]
    out.append(f"train.schedule.warmup_steps={t['schedule']['warmup_steps']}")
    out.append(f"train.early_stopping.patience={t['early_stopping']['patience']}")
    return out


def model_config(model: str, corpus: str, train_source: str | None, max_minutes: float | None,
                 lm_run: str | None, limit_train: int | None = None, epochs: int | None = None,
                 lm_backward_run: str | None = None) -> tuple[Path, list[str]]:
    """(YAML, overrides) of one neural model on `corpus`."""
    if corpus == "rotten-tomatoes" and model == "bilstm_glove":
        path, overrides = RT_CONFIG, []
    else:
        path = NEURAL_CONFIGS[model]
        overrides = rt_overrides() if corpus == "rotten-tomatoes" else []
    if train_source is not None:
        overrides.append(f"data.train={train_source}")
    if max_minutes is not None:
        overrides.append(f"train.max_minutes={max_minutes}")
    if model == "lm_transfer":
        overrides += [f"transfer.lm_run={lm_run}", f"transfer.lm_run_backward={lm_backward_run or 'null'}"]
    if model == "lm_scratch":
        overrides += scratch_overrides(lm_run)
    if limit_train is not None:
        overrides += small_data_overrides(model, path, limit_train, epochs)
    elif epochs is not None:
        overrides.append(f"train.max_epochs={epochs}")
    merged: dict[str, str] = {}  # one --set per key, the last one winning (as load_config applies them)
    for item in overrides:
        merged[item.split("=", 1)[0]] = item
    return path, list(merged.values())


def small_data_overrides(model: str, config: Path, n: int, epochs: int | None) -> list[str]:
    """With n labelled documents an epoch is a handful of steps: train SMALL_DATA_EPOCHS epochs (or
    `epochs`), evaluate and checkpoint once per epoch, stop after 4 epochs without progress, warm up
    for one epoch, and thaw the LM-transfer model one layer group per epoch (ULMFiT's own cadence)."""
    per_epoch = max(1, math.ceil(n / int(read_yaml(config)["data"]["batch_size"])))
    out = [f"train.max_epochs={epochs or SMALL_DATA_EPOCHS}", f"train.eval_every={per_epoch}",
           "train.early_stopping.patience=4", f"train.schedule.warmup_steps={per_epoch}"]
    if model == "lm_transfer":
        out += ["transfer.unfreeze_every=1", "transfer.unfreeze_unit=epochs"]
    return out


def scratch_overrides(lm_run: str | None) -> list[str]:
    """lm_transfer's classifier with random weights: the LM run's pipeline, vocabulary limits and
    architecture (what transfer would have taken from it), and no transfer section."""
    if lm_run is None:
        raise SystemExit("lm_scratch copies the LM's settings: run lm_transfer first or pass --lm-run")
    lm = read_yaml(Path(lm_run) / "config.yaml")
    word, model = lm["data"]["word"], lm["model"]
    pipeline = word["pipeline"] if isinstance(word["pipeline"], str) else str(Path(lm_run) / "pipeline.yaml")
    return (["transfer.lm_run=null", "transfer.lm_run_backward=null", "transfer.unfreeze_every=null",
             f"data.pipeline={pipeline}", f"data.min_freq={word['min_freq']}", f"data.max_size={word['max_size']}"]
            + [f"model.{k}={model[k]}" for k in ("emb_dim", "cell", "hidden_size", "num_layers")])


def lm_command(corpus: str, train_source: str, run_dir: Path, minutes: float, forward_run: str | None = None) -> list[str]:
    """The LM command of configs/sentiment/imdb_lm_transfer.yaml for `corpus`; with `forward_run`, the
    backward LM's (reading that LM's embedding, frozen)."""
    return [sys.executable, "-m", "textseq", "train-lm", "-c", str(LM_CONFIG), "-o", str(run_dir),
            "--set", f"data.train={train_source}", "--set", f"data.valid={corpus}:valid",
            "--set", f"data.test={corpus}:test",
            "--set", "data.word.pipeline=configs/preprocess/sentiment.yaml", "--set", "data.word.max_size=30000",
            "--set", "model.emb_dim=128", "--set", "model.hidden_size=256", "--set", "model.softmax=adaptive",
            "--set", "model.tie_weights=false", "--set", "model.adaptive_cutoffs=[1000,5000,15000]",
            "--set", "sample.prime=the movie",
            "--set", f"train.max_minutes={minutes}", "--set", "train.num_threads=2", "--no-progress"] + (
            ["--set", "model.direction=backward", "--set", f"embedding.from_lm={forward_run}"] if forward_run else [])


def has_best(run_dir: Path) -> bool:
    return (run_dir / "best").exists()


def fresh_run_dir(run_dir: Path, overwrite: bool) -> None:
    if run_dir.exists():
        if not overwrite:
            raise SystemExit(f"{run_dir} exists; pass --overwrite to replace it, or choose another --out")
        shutil.rmtree(run_dir)


# --------------------------------------------------------------------------------------- language models
def ensure_lm(corpus: str, out: Path, train_source: str, minutes: float, overwrite: bool,
              forward_run: str | None = None) -> tuple[str, float | None, list[str] | None]:
    """(LM run dir, minutes spent training it here or None, the command) - trains one when needed; the
    backward LM when given the forward LM's run."""
    name = "lm_backward" if forward_run else "lm"
    run_dir = out / name
    cmd = lm_command(corpus, train_source, run_dir, minutes, forward_run)
    if has_best(run_dir) and not overwrite:
        log(f"\n== {name}: reusing {run_dir} (pass --overwrite to train it again)")
        return str(run_dir), None, cmd
    fresh_run_dir(run_dir, True)
    shown = " ".join(c if " " not in c else repr(c) for c in cmd[2:])
    log(f"\n== {name}: textseq {shown}")
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=sys.stderr)  # its own process: its train.num_threads stays there
    return str(run_dir), (time.perf_counter() - t0) / 60, cmd


def lm_directions(args: argparse.Namespace) -> str:
    """forward | both: --lm-directions, else what the LM-transfer config names."""
    if args.lm_directions:
        return args.lm_directions
    return "both" if read_yaml(NEURAL_CONFIGS["lm_transfer"]).get("transfer", {}).get("lm_run_backward") else "forward"


def language_model(results: dict[str, Any], key: str, given: str | None, args: argparse.Namespace, out: Path) -> str:
    """The run dir of the forward ("lm") or backward ("lm_backward") LM: given, already in results, or
    trained here (its minutes and command go into results[key])."""
    run = given or results.get(key, {}).get("run_dir")
    if run is None:
        minutes = args.lm_minutes or args.max_minutes or LM_DOCUMENTED_MINUTES
        forward = results["lm"]["run_dir"] if key == "lm_backward" else None  # lm_transfer asks for "lm" first
        run, lm_min, cmd = ensure_lm(args.corpus, out, f"{args.corpus}:train", minutes, args.overwrite, forward)
        results[key] = {"run_dir": run, "train_min": lm_min, "command": cmd[2:]}
    elif key not in results:
        results[key] = {"run_dir": run, "train_min": None, "command": None}
    return run
