"""What a checkpoint's trainer.json holds about the Trainer, written and read back in one place, so
the two directions cannot drift apart: progress (step, epoch, position in the epoch, time trained),
the best-metric, early-stopping and divergence trackers, the lr schedule, the fp16 scaler, the data position,
the RNG states and the train config. A resumed run restores all of it and repeats an uninterrupted
one step for step.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textseq.errors import ConfigError, TextseqError
from textseq.train.serialize import capture_rng

if TYPE_CHECKING:
    from textseq.train.trainer import Trainer


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    """The trainer's resumable state as plain JSON data (the data's state_dict() must be JSON too)."""
    data_state = trainer.train_data.state_dict()
    try:
        json.dumps(data_state)
    except (TypeError, ValueError):
        raise TextseqError(f"{type(trainer.train_data).__name__}.state_dict() must return plain JSON data") from None
    return {
        "step": trainer.step, "epoch": trainer.epoch, "mid_epoch": trainer.mid_epoch,
        "elapsed": trainer.trained_seconds(),
        "best": trainer.best.state_dict(),
        "early_stopping": trainer.early.state_dict() if trainer.early else None,
        "divergence": trainer.guard.state_dict() if trainer.guard else None,
        "schedule": trainer.schedule.state_dict(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler.is_enabled() else None,
        "data": data_state, "rng": capture_rng(),
        "config": trainer.cfg.model_dump(mode="json"),
        # several ranks: each one's RNG states and data position (one process: the ones above, no key)
        **({"world_size": trainer.dist.world_size, "ranks": trainer._rank_states} if trainer.sync.active else {}),
    }


def restore_trainer_state(trainer: Trainer, t: dict[str, Any], carried: Any = None, where: Any = "checkpoint") -> Any:
    """Put back what `trainer_state` saved and return this rank's carried state. The RNG states wait
    in `trainer._resume_rng` until fit() starts, so nothing in between can draw from them."""
    saved, world = int(t.get("world_size", 1)), trainer.dist.world_size
    if saved != world:  # each rank's rows, documents, hidden state and RNGs belong to that many processes
        raise ConfigError(f"{where} was written by {saved} training process(es), this run has {world}: resume it "
                          f"with the same number (--nproc {saved}, or torchrun --nproc_per_node {saved})")
    trainer.step, trainer.epoch, trainer.mid_epoch = int(t["step"]), int(t["epoch"]), bool(t["mid_epoch"])
    trainer.elapsed_before = float(t["elapsed"])
    trainer.best.load_state_dict(t["best"])
    if trainer.early is not None and t.get("early_stopping"):
        trainer.early.load_state_dict(t["early_stopping"])
    if trainer.guard is not None:
        trainer.guard.load_state_dict(t.get("divergence"))
    trainer.schedule.load_state_dict(t["schedule"])
    if trainer.scaler.is_enabled() and t.get("scaler"):
        trainer.scaler.load_state_dict(t["scaler"])
    mine = t["ranks"][trainer.dist.rank] if world > 1 else t
    trainer.train_data.load_state_dict(mine["data"])
    trainer._resume_rng = mine["rng"]
    return carried[trainer.dist.rank] if world > 1 else carried
