"""Checkpoints: atomic, rotated, verified, pickle-free."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.train.tiny import ListBatches, TinyClassifier, classifier_batches, make_lm_trainer
from textseq.errors import TextseqError
from textseq.train.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from textseq.train.config import TrainConfig
from textseq.train.optim import build_optimizer
from textseq.train.serialize import load_tree, save_tree
from textseq.train.trainer import Trainer

torch.set_num_threads(1)
TRAIN_SRC = Path(__file__).resolve().parents[2] / "textseq" / "train"


def scripted(values: list[float]):
    """An evaluate callable returning the next value of `values` as its loss."""
    it = iter(values)
    return lambda model: {"loss": next(it)}


def classifier_trainer(run_dir: Path, evaluate=None, **cfg) -> Trainer:
    torch.manual_seed(0)
    base = dict(optimizer={"name": "sgd", "lr": 0.1}, max_steps=8, eval_every=2, log_every=1, device="cpu", tensorboard=False)
    config = TrainConfig.model_validate({**base, **cfg})
    return Trainer(TinyClassifier(), config, ListBatches(classifier_batches()), run_dir, evaluate=evaluate, progress=False)


def test_keep_last_and_best(tmp_path: Path) -> None:
    # evals at steps 2, 4, 6, 8: the best (lowest) loss is at step 4
    classifier_trainer(tmp_path, scripted([0.5, 0.3, 0.4, 0.6]), checkpoint_every=1, keep_last=2).fit()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000007", "step-000008"]
    assert (tmp_path / "latest").read_text().strip() == "step-000008"
    best = load_checkpoint(tmp_path / "best", TinyClassifier())
    assert best.step == 4 and best.trainer["best"]["best"] == 0.3


def test_leftover_tmp_dirs_are_ignored_and_swept(tmp_path: Path) -> None:
    make_lm_trainer(tmp_path, max_steps=6).fit()
    for name in ("step-000009.tmp", "step-000012.old.tmp"):  # a kill during a write / a rotation
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"half a file")
    trainer = make_lm_trainer(tmp_path, max_steps=8)
    assert trainer.resume().name == "step-000006"
    assert not list(tmp_path.glob("*.tmp"))
    assert trainer.fit().step == 8


@pytest.mark.parametrize(
    "damage, name",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100]), "model.safetensors"),
        (lambda d: (d / "trainer.json").write_text('{"step": 3, "form'), "trainer.json"),
        (lambda d: (d / "optimizer.safetensors").unlink(), "optimizer.safetensors"),
        (lambda d: (d / "state.safetensors").write_bytes(b"\0" * (d / "state.safetensors").stat().st_size), "state.safetensors"),
    ],
    ids=["truncated-model", "corrupt-json", "missing-optimizer", "zeroed-state"],
)
def test_damaged_checkpoint_names_the_file_and_resume_falls_back(tmp_path: Path, damage, name: str, caplog) -> None:
    make_lm_trainer(tmp_path, max_steps=6).fit()
    damage(tmp_path / "step-000006")
    with pytest.raises(TextseqError, match=re.escape(name)):
        load_checkpoint(tmp_path / "step-000006")
    older = list_checkpoints(tmp_path)[-2]
    trainer = make_lm_trainer(tmp_path)
    with caplog.at_level(logging.WARNING, logger="textseq"):
        assert trainer.resume() == older
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "skipping a damaged checkpoint" in caplog.text and name in caplog.text


def test_incompatible_format_version_is_a_clear_error(tmp_path: Path) -> None:
    make_lm_trainer(tmp_path, max_steps=3).fit()
    meta_path = tmp_path / "step-000003" / "trainer.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format_version 99.*reads version 1"):
        make_lm_trainer(tmp_path).resume()


def test_fresh_fit_refuses_a_run_dir_with_checkpoints(tmp_path: Path) -> None:
    make_lm_trainer(tmp_path, max_steps=3).fit()
    with pytest.raises(TextseqError, match="already holds checkpoints"):
        make_lm_trainer(tmp_path, max_steps=3).fit()


def test_checkpoints_are_safetensors_and_json_only(tmp_path: Path) -> None:
    make_lm_trainer(tmp_path, max_steps=6).fit()
    dirs = [*list_checkpoints(tmp_path), tmp_path / "best"]
    assert len(dirs) == 3
    for d in dirs:
        names = sorted(p.name for p in d.iterdir())
        assert names == ["extra.json", "model.safetensors", "optimizer.safetensors", "state.safetensors", "trainer.json"]
        for p in d.iterdir():
            if p.suffix == ".json":
                json.loads(p.read_text())
            else:
                with safe_open(str(p), framework="pt") as f:
                    list(f.keys())
    assert json.loads((dirs[0] / "extra.json").read_text()) == {"model": "TinyLM"}
    for src in TRAIN_SRC.glob("*.py"):
        code = src.read_text()
        for banned in ("torch.save", "torch.load", "import pickle", "pickle.load"):
            assert banned not in code, f"{src.name} uses {banned}"


def test_tensor_tree_roundtrip(tmp_path: Path) -> None:
    h, c = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    tree = {"lstm": (h, c), "layers": [h[0], None, 1.5], 3: {"step": torch.tensor(7.0), "betas": (0.9, 0.99)}}
    save_tree(tree, tmp_path / "t.safetensors")
    back = load_tree(tmp_path / "t.safetensors")
    assert isinstance(back["lstm"], tuple) and torch.equal(back["lstm"][1], c)
    assert torch.equal(back["layers"][0], h[0]) and back["layers"][1:] == [None, 1.5]
    assert torch.equal(back[3]["step"], torch.tensor(7.0)) and back[3]["betas"] == (0.9, 0.99)
    save_tree(None, tmp_path / "none.safetensors")
    assert load_tree(tmp_path / "none.safetensors") is None


def test_optimizer_and_tied_weights_roundtrip(tmp_path: Path) -> None:
    trainer = make_lm_trainer(tmp_path, max_steps=3)
    trainer.fit()
    model = make_lm_trainer(tmp_path / "other").model
    opt = build_optimizer(model, trainer.cfg.optimizer)  # a fresh optimizer of the same shape
    loaded = load_checkpoint(tmp_path / "step-000003", model, opt)
    for (k, a), b in zip(trainer.model.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), k
    assert model.decoder.weight is model.embed.weight  # still tied after loading
    want = trainer.optimizer.state_dict()["state"]
    got = opt.state_dict()["state"]
    assert want.keys() == got.keys()
    for i in want:
        for k in want[i]:
            assert torch.equal(want[i][k], got[i][k])
    assert isinstance(opt.param_groups[0]["betas"], tuple)
    assert loaded.carried_state.shape == (1, 4, 12)  # the GRU's (layers, B, H) state
