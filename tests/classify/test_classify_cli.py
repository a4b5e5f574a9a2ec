"""The classification job end to end through `textseq.cli.main`: train, predict, evaluate, plot, resume."""

from __future__ import annotations

import json
import random

import pytest

from textseq.cli import main
from textseq.train.checkpoint import list_checkpoints
from textseq.train.metrics import read_metrics

from .conftest import review, write_reviews


def test_run_dir_layout_and_label_set_stored_with_the_model(clf_run):
    assert json.loads((clf_run / "labels.json").read_text()) == ["neg", "pos"]
    assert [p.name for p in list_checkpoints(clf_run)] == ["step-000012", "step-000024"]
    extra = json.loads((clf_run / "best" / "extra.json").read_text())
    assert extra["task"] == "classify" and extra["labels"] == ["neg", "pos"]
    codec = extra["codec"]  # pipeline, vocabulary and truncation in one self-contained entry
    assert extra["model_config"]["num_classes"] == 2 and extra["model_config"]["vocab_size"] == len(codec["vocab"]["tokens"])
    assert codec["truncation"] == {"max_tokens": 12, "policy": "head_tail", "head_fraction": 0.25, "empty": "unk"}
    valid = [r for r in read_metrics(clf_run) if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [12, 24]
    assert {"loss", "accuracy", "macro_f1", "weighted_f1", "roc_auc"} <= set(valid[0])
    report = json.loads((clf_run / "eval_test.json").read_text())
    assert report["accuracy"] >= 0.9 and report["labels"] == ["neg", "pos"]  # separable task


def test_predict_prints_label_and_probabilities(clf_run, capsys):
    texts = ["A wonderful, brilliant and charming film.", "Boring, awful, a dreadful disaster.", ""]
    assert main(["predict", str(clf_run), *texts]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert set(line) == {"id", "text", "label", "probs"} and set(line["probs"]) == {"neg", "pos"}
        assert sum(line["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert line["label"] == max(line["probs"], key=line["probs"].get)
    assert [x["label"] for x in lines[:2]] == ["pos", "neg"]


@pytest.mark.parametrize("suffix", ["txt", "csv", "jsonl"])
def test_predict_reads_text_lines_csv_and_jsonl(clf_run, tmp_path, capsys, suffix):
    texts = ["superb and moving", "tedious and painful"]
    path = tmp_path / f"in.{suffix}"
    if suffix == "txt":
        path.write_text("\n".join(texts) + "\n")
    elif suffix == "csv":
        path.write_text("review,x\n" + "".join(f"{t},1\n" for t in texts))
    else:
        path.write_text("".join(json.dumps({"review": t}) + "\n" for t in texts))
    args = ["predict", str(clf_run), "-i", str(path)] + ([] if suffix == "txt" else ["--text-column", "review"])
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["label"] for x in lines] == ["pos", "neg"] and lines[0]["id"].startswith(str(path))


def test_eval_classifier_prints_one_json_object(clf_run, capsys):
    assert main(["eval-classifier", str(clf_run), "-i", str(clf_run.parent / "test.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 16 and report["accuracy"] >= 0.9 and report["roc_auc"] >= 0.9
    assert sum(map(sum, report["confusion_matrix"])) == 16
    assert set(report["per_class"]["pos"]) == {"precision", "recall", "f1", "support"}


def test_unseen_label_at_evaluation_is_an_error_or_a_counted_skip(clf_run, tmp_path, capsys):
    path = write_reviews(tmp_path / "odd.csv", 6, seed=9, extra_rows=[("a fine film", "neutral")])
    assert main(["eval-classifier", str(clf_run), "-i", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8: label 'neutral' is not a training class (neg, pos)" in err
    assert main(["eval-classifier", str(clf_run), "-i", str(path), "--unseen-labels", "skip"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped_unseen_labels"] == 1 and report["examples"] == 6


def test_plot_adds_confusion_matrix_and_attention(clf_run, tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["plot", str(clf_run), "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"loss.png", "accuracy.png", "confusion_valid.png", "confusion_test.png", "attention_example.png"} <= names
    assert main(["predict", str(clf_run), "superb film", "--attention", str(tmp_path / "att")]) == 0
    assert (tmp_path / "att" / "attention_0.png").stat().st_size > 1000


def test_attention_weights_cover_the_tokens(clf_run):
    from textseq.classify import Predictor

    predictor = Predictor.load(clf_run)
    tokens, weights, prediction = predictor.attention("A superb, gripping film")
    assert len(tokens) == len(weights) and weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert predictor.predict(["A superb, gripping film"])[0]["probs"] == pytest.approx(prediction["probs"], abs=1e-5)


def test_checkpoint_codec_reads_the_codec_entry_and_the_older_three_entries_alike(clf_run):
    """Checkpoints hold the classifier's text -> ids as one "codec" entry; those written before it
    (vocab + pipeline + encoding) give the same ids, truncation included."""
    from textseq.classify.predict import Predictor
    from textseq.classify.task import checkpoint_codec
    from textseq.train.checkpoint import CheckpointError

    predictor = Predictor.load(clf_run)
    extra = json.loads((predictor.path / "extra.json").read_text(encoding="utf-8"))
    spec = extra["codec"]
    legacy = {"vocab": spec["vocab"], "pipeline": spec["tokenizer"]["spec"],
              "encoding": {"max_tokens": 12, "truncate": "head_tail", "head_fraction": 0.25}}
    texts = ["A superb, gripping film", "", " ".join(["boring"] * 30) + " but a masterpiece ending"]
    ids = list(predictor.codec.encode_many(texts))
    assert list(checkpoint_codec(legacy, "extra.json").encode_many(texts)) == ids
    assert list(checkpoint_codec({"codec": spec}, "extra.json").encode_many(texts)) == ids
    assert len(ids[2]) == 12 and ids[1] == [predictor.codec.vocab.unk_id]  # truncated; empty as one <unk>
    with pytest.raises(CheckpointError, match="needs a 'words' codec that encodes an empty text as one <unk>"):
        checkpoint_codec({"codec": {**spec, "truncation": {"max_tokens": 12}}}, "extra.json")


def test_resume_extends_the_run(clf_run_copy, capsys):
    assert main(["train-classifier", "-o", str(clf_run_copy), "--resume", "--set", "train.max_steps=30", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "resumed from step-000024 (step 24" in captured.err and "reusing the encoded data" in captured.err
    assert captured.out == ""  # messages go to stderr; stdout is for results
    assert list_checkpoints(clf_run_copy)[-1].name == "step-000030"
    steps = [r["step"] for r in read_metrics(clf_run_copy) if r["split"] == "train"]
    assert steps == [6, 12, 18, 24, 30]


def test_resume_refuses_a_changed_model(clf_run_copy, capsys):
    code = main(["train-classifier", "-o", str(clf_run_copy), "--resume", "--set", "model.hidden_size=32"])
    assert code == 2 and "model.hidden_size (16 -> 32)" in capsys.readouterr().err


def test_existing_run_needs_resume(clf_run, capsys):
    assert main(["train-classifier", "-c", str(clf_run.parent / "job.yaml"), "-o", str(clf_run)]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err


def test_startup_line_describes_the_model_that_is_built(tmp_path, caplog):
    import logging

    from textseq.classify import train_classifier

    from .conftest import tiny_config

    config = tiny_config(tmp_path, model={"kind": "bag"}, train={"max_steps": 2, "eval_every": 2})
    with caplog.at_level(logging.INFO, logger="textseq"):
        train_classifier(config, tmp_path / "run", progress=False)
    lines = [r.getMessage() for r in caplog.records]
    model_line = next(line for line in lines if line.startswith("model: "))
    assert model_line.startswith("model: bag mean of word vectors, emb 16")
    assert "gru" not in model_line and "pooling" not in model_line


def test_prediction_in_worker_processes_and_chunks_equals_one_process(clf_run):
    """Worker processes and small chunks give the same probabilities, in the same order, as one
    process and one chunk."""
    import numpy as np

    from textseq.classify.predict import Predictor

    predictor = Predictor.load(clf_run)
    rng = random.Random(5)
    texts = [review(rng.choice(["neg", "pos"]), rng) for _ in range(300)] + ["", "x" * 5000]
    reference = predictor.predict_proba(texts, workers=1, chunk_size=10_000)
    streamed = predictor.predict_proba(texts, batch_size=16, workers=2, chunk_size=37)
    np.testing.assert_allclose(streamed, reference, atol=1e-6, rtol=0)


def test_bf16_prediction_runs_the_model_in_bfloat16_and_keeps_the_labels(clf_run, capsys):
    """--precision bf16 autocasts the model (its matrix products come out in bfloat16), moves the
    probabilities by little, and changes no label on the separable test set; fp16 on CPU is refused."""
    import numpy as np
    import torch

    from textseq.classify.predict import Predictor
    from textseq.errors import ConfigError

    rng = random.Random(7)
    texts = [review(rng.choice(["neg", "pos"]), rng) for _ in range(40)]
    fp32, bf16 = Predictor.load(clf_run), Predictor.load(clf_run, precision="bf16")
    dtypes = []
    linear = next(m for m in bf16.model.modules() if isinstance(m, torch.nn.Linear))
    hook = linear.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    try:
        low = bf16.predict_proba(texts)
    finally:
        hook.remove()
    high = fp32.predict_proba(texts)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert low.dtype == np.float32 and np.abs(low - high).max() < 0.03
    assert (low.argmax(1) == high.argmax(1)).all()

    assert main(["eval-classifier", str(clf_run), "-i", str(clf_run.parent / "test.csv"), "--precision", "bf16"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        Predictor.load(clf_run, precision="fp16")
    with pytest.raises(ConfigError, match="expected fp32, bf16 or fp16"):
        Predictor.load(clf_run, precision="int8")
    from textseq.classify.commands import PRECISIONS as cli_choices
    from textseq.train.device import PRECISIONS

    assert cli_choices == PRECISIONS


def test_load_run_opens_a_classifier_that_scores_as_the_run_reported(clf_run):
    from textseq.classify.config import ClassifyJobConfig
    from textseq.classify.predict import Predictor, evaluate_classifier
    from textseq.runs import load_run

    run = load_run(clf_run)
    assert run.task == "classify" and isinstance(run.config, ClassifyJobConfig) and run.labels == ["neg", "pos"]
    saved = json.loads((clf_run / "report.json").read_text())
    assert saved["valid"]["accuracy"] == json.loads((clf_run / "eval_valid.json").read_text())["accuracy"]
    again = evaluate_classifier(clf_run, run.config.data.valid)
    assert again["accuracy"] == saved["valid"]["accuracy"] and again["checkpoint"] == str(run.path)
    assert Predictor.from_run(run).predict(["a fine film"])[0]["label"] in run.labels


def _cli(*args: str, stdin: bytes | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "textseq", *args], input=stdin, capture_output=True, timeout=300)


def test_predict_reads_standard_input_and_echoes_each_text(clf_run):
    done = _cli("predict", str(clf_run), stdin="a fine film\n\nawful\n".encode())
    assert done.returncode == 0, done.stderr.decode()
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["text"] for r in records] == ["a fine film", "", "awful"]
    assert [r["id"] for r in records] == ["<stdin>:1", "<stdin>:2", "<stdin>:3"]
    assert all(set(r["probs"]) == {"neg", "pos"} and r["label"] in r["probs"] for r in records)
    # options before or after the run directory; texts after it are not swallowed by an option
    done = _cli("predict", "--batch-size", "2", str(clf_run), "great", "dull", "--workers", "1")
    assert [json.loads(x)["text"] for x in done.stdout.decode().splitlines()] == ["great", "dull"]


def test_predict_from_standard_input_with_bad_bytes_follows_the_error_policy(clf_run):
    bad = b"good\n\xff\xfe bad\nfine\n"
    strict = _cli("predict", str(clf_run), "-i", "-", stdin=bad)
    assert strict.returncode == 2 and "<stdin>:2: not valid UTF-8" in strict.stderr.decode() and not strict.stdout
    skip = _cli("predict", str(clf_run), "-i", "-", "--errors", "skip", stdin=bad)
    assert [json.loads(x)["id"] for x in skip.stdout.decode().splitlines()] == ["<stdin>:1", "<stdin>:3"]
    assert "0 line(s) with undecodable bytes replaced, 1 skipped" in skip.stderr.decode()


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--workers", "-1"], ["--batch-size", "x"]])
def test_bad_numbers_are_usage_errors(clf_run, option):
    done = _cli("predict", str(clf_run), "hello", *option)
    assert done.returncode == 2 and b"Traceback" not in done.stderr and b"usage:" in done.stderr


def test_the_final_report_checks_the_best_checkpoint_before_reading_it(tmp_path):
    from textseq.classify.task import ClassifyTask
    from textseq.train.callbacks import Callback
    from textseq.train.checkpoint import CheckpointError
    from textseq.train.job import run_job

    from .conftest import tiny_config

    class FlipAByte(Callback):  # best/ goes bad between the last checkpoint and the report
        def on_fit_end(self, trainer):
            f = trainer.run_dir / "best" / "model.safetensors"
            data = bytearray(f.read_bytes())
            data[-1] ^= 0xFF
            f.write_bytes(bytes(data))

    config = tiny_config(tmp_path, train={"max_steps": 4, "eval_every": 2})
    with pytest.raises(CheckpointError, match=r"sha256 mismatch.*best/model\.safetensors"):
        run_job(ClassifyTask(), config, tmp_path / "run", progress=False, callbacks=[FlipAByte()])
