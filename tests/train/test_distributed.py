"""Data-parallel training with 2 gloo processes on the CPU: the same steps as one process at twice
the batch, a rank that dies stops the other with an error, and a killed run resumes exactly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.classify.conftest import FAST_PIPELINE, write_reviews
from tests.classify.conftest import tiny_config as classify_config
from tests.lm.conftest import tiny_config as lm_config

ROOT = Path(__file__).resolve().parents[2]
NO_DROPOUT = ["model.dropout_emb=0", "model.dropout_layers=0", "model.dropout_out=0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(task: str, config: Path, run_dir: Path, out: Path, world: int, *extra: str,
          env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """`world` processes of tests.train.ddp_job (one without a process group when world is 1)."""
    base = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TEXTSEQ_DIST_TIMEOUT": "60", **(env or {})}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        base.pop(key, None)
    port = str(free_port())
    cmd = [sys.executable, "-m", "tests.train.ddp_job", task, str(config), str(run_dir), str(out), *extra]
    procs = []
    for rank in range(world):
        dist = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port} if world > 1 else {}
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env={**base, **dist}, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str]]:
    """(exit status, stderr) of each process; kills them all if one overruns `timeout`."""
    results = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=timeout)
            results.append((p.returncode, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def train(task: str, config: Path, run_dir: Path, world: int, *extra: str) -> dict:
    """Run a job to its end; rank 0's record (losses per step, last evaluation, report)."""
    out = run_dir.parent / f"{run_dir.name}.json"
    for code, err in finish(start(task, config, run_dir, out, world, *extra)):
        assert code == 0, err
    return json.loads(Path(f"{out}.rank0").read_text())


def weights(run_dir: Path, step: int) -> dict:
    return load_file(str(run_dir / f"step-{step:06d}" / "model.safetensors"))


def assert_same_weights(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.allclose(a[key].numpy(), b[key].numpy(), atol=atol, rtol=0), key


def sets(items: list[str]) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def test_two_lm_ranks_take_the_steps_of_one_process_at_twice_the_batch(tmp_path: Path) -> None:
    config = lm_config(tmp_path)  # batch_size 4, bptt 16, 6 steps
    one = train("lm", config, tmp_path / "one", 1, *sets([*NO_DROPOUT, "data.batch_size=8"]))
    two = train("lm", config, tmp_path / "two", 2, *sets(NO_DROPOUT))
    assert len(one["losses"]) == len(two["losses"]) == 6
    assert np.allclose(one["losses"], two["losses"], rtol=1e-5, atol=0)  # each step's loss over all 2 x 4 rows
    assert_same_weights(weights(tmp_path / "one", 6), weights(tmp_path / "two", 6))
    logged = [[r["loss"] for r in map(json.loads, (tmp_path / run / "metrics.jsonl").open()) if r["split"] == "train"]
              for run in ("one", "two")]
    # metrics.jsonl: the means over all ranks, written once (by rank 0)
    assert len(logged[0]) == len(logged[1]) == 6 and np.allclose(*logged, rtol=1e-5, atol=0)
    rank1 = json.loads((tmp_path / "two.json.rank1").read_text())
    assert rank1["losses"] == two["losses"] and rank1["report"] == {}  # agreed numbers; rank 0 alone reports
    report = json.loads((tmp_path / "two" / "report.json").read_text())["distributed"]
    assert report["world_size"] == 2 and report["backend"] == "gloo" and len(report["items_per_sec_per_rank"]) == 2


def test_two_classifier_ranks_share_uneven_batches_like_one_process(tmp_path: Path) -> None:
    config = classify_config(tmp_path, data={"pipeline": FAST_PIPELINE})
    write_reviews(tmp_path / "train.csv", 45, seed=1)  # chunks of 2 x 16 and 13: the last batch splits 7 + 6
    over = ["train.max_steps=9", "train.eval_every=3", "train.log_every=1"]
    train("classify", config, tmp_path / "one", 1, *sets([*over, "data.batch_size=16"]))
    # the command line's --nproc 2 starts torchrun, which starts the 2 ranks
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    cli = subprocess.run([sys.executable, "-m", "textseq", "-q", "train-classifier", "-c", str(config), "-o",
                          str(tmp_path / "two"), "--no-progress", "--nproc", "2", *sets(over)], cwd=ROOT,
                         env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    one, two = (list(map(json.loads, (tmp_path / run / "metrics.jsonl").open())) for run in ("one", "two"))
    losses = [[r["loss"] for r in records if r["split"] == "train"] for records in (one, two)]
    assert len(losses[0]) == len(losses[1]) == 9 and np.allclose(*losses, rtol=1e-5, atol=0)
    assert [r["accuracy"] for r in one if r["split"] == "valid"] == [r["accuracy"] for r in two if r["split"] == "valid"]
    # Adam divides by sqrt(v): float noise in near-zero gradients grows to ~1e-5 after a few steps
    assert_same_weights(weights(tmp_path / "one", 9), weights(tmp_path / "two", 9), atol=1e-4)


def test_a_killed_rank_stops_the_other_and_the_run_resumes_exactly(tmp_path: Path) -> None:
    config = lm_config(tmp_path, train={"max_steps": 12, "eval_every": 4, "checkpoint_every": 2})  # dropout on
    out = tmp_path / "killed.json"
    began = time.monotonic()
    (code0, err0), (code1, _) = finish(start("lm", config, tmp_path / "run", out, 2, "--die-at", "7"), timeout=90)
    assert code1 == -9  # SIGKILL after step 7
    assert code0 == 1 and "rank 1 stopped answering" in err0 and "Traceback" not in err0, err0
    assert time.monotonic() - began < 60
    assert not (tmp_path / "run" / "step-000008").exists()

    # resuming at another world size stops with one line naming both
    (code, err), = finish(start("lm", config, tmp_path / "run", out, 1, "--resume"))
    assert code == 1 and "written by 2 training process(es), this run has 1" in err and "Traceback" not in err, err

    resumed = train("lm", config, tmp_path / "run", 2, "--resume")
    reference = train("lm", config, tmp_path / "ref", 2)
    assert resumed["step"] == reference["step"] == 12
    assert resumed["losses"] == reference["losses"][6:]  # exactly: every rank's RNG, rows and hidden state restored
    assert resumed["last_eval"] == reference["last_eval"]
    for key, value in weights(tmp_path / "ref", 12).items():
        assert np.array_equal(weights(tmp_path / "run", 12)[key].numpy(), value.numpy()), key


@pytest.mark.parametrize("world", [2])
def test_batches_shard_every_example_once(world: int) -> None:
    from textseq.data.classification import BucketBatches, EncodedSplit
    from textseq.data.lm import LMBatches

    split = EncodedSplit.from_lists([[1] * (1 + i % 7) for i in range(45)], [i % 2 for i in range(45)])
    ranks = [BucketBatches(split, 4, seed=3, chunk_batches=3) for _ in range(world)]
    for r, b in enumerate(ranks):
        b.shard(r, world)
    plans = [b.plan(0) for b in ranks]
    assert len({len(p) for p in plans}) == 1 and len(plans[0]) == len(ranks[0])  # the same number of steps
    docs = np.concatenate([batch for p in plans for batch in p])
    assert sorted(docs.tolist()) == list(range(45))  # 45 = 4 x 8 + 13: no batch smaller than 2 documents

    tokens = np.arange(2000) % 50
    one = LMBatches(tokens, 2 * world, 5, seed=1, reset_every=2)
    parts = [LMBatches(tokens, 2, 5, seed=1, reset_every=2) for _ in range(world)]
    for r, b in enumerate(parts):
        b.shard(r, world)
    for whole, *shards in zip(one, *parts):
        assert np.array_equal(whole.x.numpy(), np.concatenate([s.x.numpy() for s in shards]))
        flags = [s.reset if not isinstance(s.reset, bool) else np.full(2, s.reset) for s in shards]
        want = whole.reset if not isinstance(whole.reset, bool) else np.full(2 * world, whole.reset)
        assert np.array_equal(np.asarray(want), np.concatenate([np.asarray(f) for f in flags]))



@pytest.mark.slow
def test_ranks_that_exit_right_after_their_last_collective_end_cleanly(tmp_path: Path) -> None:
    # benchmarks/ddp_exit.py: without stop()'s pause, 1 such two-rank run in 10 (up to 1 in 3 on a busy
    # machine) died of SIGABRT at the interpreter's exit; with it, none in 100
    out = tmp_path / "exit.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ddp_exit.py"), "--runs", "20", "--settle", "0.2",
                    "--json", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    figures = json.loads(out.read_text())
    assert figures["aborted"] == {"0.2": 0}, figures["first_failure"]
