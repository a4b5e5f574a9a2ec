"""Schedules, optimizers, config validation, devices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.config import load_config
from textseq.train.config import ScheduleConfig, TrainConfig
from textseq.train.device import autocast_context, dist_info, resolve_device
from textseq.train.optim import LRSchedule, build_optimizer, param_groups
from textseq.train.config import OptimizerConfig


def test_cosine_with_warmup_values() -> None:
    s = LRSchedule(ScheduleConfig(name="cosine", warmup_steps=4, min_lr=0.1), [2.0], total_steps=14)
    assert [s.factor(i) for i in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear ramp
    assert s.factor(4) == pytest.approx(1.0)  # cosine starts at the top
    assert s.factor(9) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way
    assert s.factor(14) == pytest.approx(0.1) and s.factor(100) == pytest.approx(0.1)  # floor, then flat
    assert s.lr(9) == pytest.approx(2.0 * 0.55)
    factors = [s.factor(i) for i in range(3, 15)]
    assert factors == sorted(factors, reverse=True)


def test_cosine_needs_a_length_and_none_is_flat() -> None:
    with pytest.raises(ConfigError, match="total_steps"):
        LRSchedule(ScheduleConfig(name="cosine"), [1.0])
    flat = LRSchedule(ScheduleConfig(), [1.0])
    assert {flat.factor(i) for i in range(50)} == {1.0}


def test_plateau_state_roundtrip() -> None:
    s = LRSchedule(ScheduleConfig(name="plateau", factor=0.5, patience=0, min_lr=0.2), [1.0])
    cuts = [s.on_eval(v, "min") for v in [1.0, 1.0, 0.5, 0.6, 0.7, 0.8]]
    assert cuts == [False, True, False, True, True, True]
    assert s.scale == pytest.approx(0.2)  # 1 -> .5 -> .25 -> floor .2
    t = LRSchedule(ScheduleConfig(name="plateau"), [1.0])
    t.load_state_dict(s.state_dict())
    assert t.state_dict() == s.state_dict()


def test_weight_decay_skips_biases_and_tied_weights_appear_once() -> None:
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5))
    model[1].weight = model[0].weight
    opt = build_optimizer(model, OptimizerConfig(name="adamw", weight_decay=0.1))
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and len(decayed["params"]) == 1
    assert plain["weight_decay"] == 0.0 and plain["params"][0] is model[1].bias
    sgd = build_optimizer(model, OptimizerConfig(name="sgd", momentum=0.9, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]


def test_config_validation_names_the_key(tmp_path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("max_steps: 10\noptimizer: {name: adamw, lrr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"optimizer\.lrr: unknown key; valid keys here: .*lr"):
        load_config(TrainConfig, path)
    with pytest.raises(ConfigError, match="nesterov"):
        load_config(TrainConfig, data={"max_steps": 1, "optimizer": {"name": "sgd", "nesterov": True}})
    cfg = load_config(TrainConfig, data={"max_steps": 1}, overrides=["schedule.name=cosine", "clip_norm=null"])
    assert cfg.schedule.name == "cosine" and cfg.clip_norm is None and cfg.checkpoint_interval == cfg.eval_every


def test_devices_and_ranks() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert resolve_device("auto").type != "cuda"
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")
    with autocast_context(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")
    assert dist_info({}).is_main and dist_info({}).world_size == 1
    assert not dist_info({"RANK": "1", "WORLD_SIZE": "2"}).is_main
    with pytest.raises(ConfigError, match="integers"):
        dist_info({"RANK": "x"})


def _adamw_run(cfg: OptimizerConfig, loop: bool = False) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(300, 8), torch.nn.Linear(8, 3))
    opt = (torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, foreach=False) if loop
           else build_optimizer(model, cfg))
    g = torch.Generator().manual_seed(1)
    for step in range(30):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=g) * (1e-3 if step % 3 else 1.0)
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_adamw_default_is_the_per_parameter_loop_bit_for_bit_and_fused_is_close() -> None:
    cfg = OptimizerConfig(lr=3e-3)
    loop = _adamw_run(cfg, loop=True)
    assert all(torch.equal(a, b) for a, b in zip(_adamw_run(cfg), loop))  # foreach: same numbers, faster
    fused = _adamw_run(cfg.model_copy(update={"fused": True}))
    assert all(torch.allclose(a, b, atol=1e-5, rtol=0) for a, b in zip(fused, loop))
