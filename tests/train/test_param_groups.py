"""Caller-made optimizer param groups (discriminative learning rates) reach the optimizer, keep
their lr ratios under the schedule, and survive a checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from tests.train.tiny import TinyLM, TokenStream, lm_config
from textseq.train.trainer import Trainer


def groups_for(model: TinyLM) -> list[dict]:
    # The tied embedding/decoder weight is one tensor: it must appear in exactly one group.
    return [
        {"params": list(model.rnn.parameters()), "lr": 1e-2, "name": "rnn"},
        {"params": [model.embed.weight, model.decoder.bias], "lr": 1e-2 / 2.6, "name": "embed"},
    ]


def test_groups_keep_their_ratio_through_the_schedule(tmp_path):
    torch.manual_seed(0)
    model = TinyLM(dropout=0.0)
    trainer = Trainer(model, lm_config(max_steps=6, eval_every=100, checkpoint_every=100), TokenStream(seed=1),
                      tmp_path / "run", param_groups=groups_for(model), progress=False)
    assert [g["name"] for g in trainer.optimizer.param_groups] == ["rnn", "embed"]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.fit()
    lrs = [g["lr"] for g in trainer.optimizer.param_groups]
    assert lrs[0] > 0 and lrs[0] / lrs[1] == pytest.approx(2.6)
    # every parameter was in a group and moved
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_groups_resume_from_checkpoint(tmp_path):
    def build(max_steps: int) -> Trainer:
        torch.manual_seed(0)
        model = TinyLM(dropout=0.0)
        return Trainer(model, lm_config(max_steps=max_steps, eval_every=3, checkpoint_every=3), TokenStream(seed=1),
                       tmp_path / "run", param_groups=groups_for(model), progress=False)

    build(3).fit()
    resumed = build(6)
    resumed.resume()
    assert [g["name"] for g in resumed.optimizer.param_groups] == ["rnn", "embed"]
    assert resumed.step == 3
    resumed.fit()
    assert resumed.step == 6
