"""Model directories: `model.safetensors` + `config.json`, the only way textseq stores weights
(never pickle). Shared by the language model, the classifiers and anything else with weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypeVar

import torch
from pydantic import BaseModel
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from textseq.config import validate
from textseq.errors import ConfigError, InputError, ResourceMissingError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
C = TypeVar("C", bound=BaseModel)


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model_dir(directory: str | Path, tensors: dict[str, torch.Tensor], config: BaseModel, model_name: str) -> Path:
    """Write `tensors` (no shared storage) and the model's config into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt", "model": model_name})
    (directory / CONFIG_NAME).write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return directory


def read_model_dir(directory: str | Path, config_model: type[C]) -> tuple[C, dict[str, torch.Tensor], Path]:
    """Read and validate a model directory: (config, tensors, weights path). Errors name the file."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ResourceMissingError(f"{path}: not found; expected a directory written by save_pretrained")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path}: not valid JSON: {err}") from None
    config = validate(config_model, raw, where=str(config_path))
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise InputError(f"{weights_path}: unreadable safetensors file (truncated or corrupt?): {err}") from None
    return config, tensors, weights_path


def check_tensors(expected: dict[str, tuple[int, ...]], tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Same keys and shapes as the model built from config.json, or an InputError that says which."""
    problems = [f"missing {k}" for k in sorted(expected.keys() - tensors.keys())]
    problems += [f"unexpected {k}" for k in sorted(tensors.keys() - expected.keys())]
    problems += [f"{k}: shape {tuple(tensors[k].shape)} in file, {shape} from {CONFIG_NAME}"
                 for k, shape in sorted(expected.items()) if k in tensors and tuple(tensors[k].shape) != shape]
    if problems:
        raise InputError(f"{path}: weights do not match {CONFIG_NAME}: " + "; ".join(problems))
