"""Pickle-free serialisation of the trainer's state: nested tensor structures and RNG states.

A nested structure (an optimizer state dict, an LSTM's (h, c) per layer) is split in two: its
tensors go into a safetensors file, and its shape - dicts, lists, tuples, numbers, with
{"__tensor__": key} placeholders - goes into that file's JSON metadata. Nothing is ever unpickled,
so a checkpoint from an untrusted source cannot run code when loaded.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

TREE_KEY = "textseq.tree"


def flatten_tree(obj: Any, tensors: dict[str, torch.Tensor] | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace every tensor in `obj` by a placeholder; return (JSON-able tree, tensors by key)."""
    tensors = {} if tensors is None else tensors
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        # clone: safetensors refuses tensors that share storage (e.g. views of one buffer)
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}, tensors
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj, tensors
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten_tree(v, tensors)[0] for v in obj]}, tensors
    if isinstance(obj, list):
        return [flatten_tree(v, tensors)[0] for v in obj], tensors
    if isinstance(obj, dict):
        # keys are kept with their type (optimizer state is keyed by int parameter index)
        return {"__items__": [[k, flatten_tree(v, tensors)[0]] for k, v in obj.items()]}, tensors
    raise TypeError(f"cannot serialise a {type(obj).__name__} without pickle")


def unflatten_tree(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of flatten_tree."""
    if isinstance(tree, list):
        return [unflatten_tree(v, tensors) for v in tree]
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return tensors[tree["__tensor__"]]
        if "__tuple__" in tree:
            return tuple(unflatten_tree(v, tensors) for v in tree["__tuple__"])
        return {(tuple(k) if isinstance(k, list) else k): unflatten_tree(v, tensors) for k, v in tree["__items__"]}
    return tree


def save_tree(obj: Any, path: Path) -> None:
    """Write a nested tensor structure to one safetensors file (structure in its metadata)."""
    tree, tensors = flatten_tree(obj)
    save_file(tensors, str(path), metadata={TREE_KEY: json.dumps(tree)})


def load_tree(path: Path, device: torch.device | str = "cpu") -> Any:
    """Read what save_tree wrote; tensors land on `device`."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        if TREE_KEY not in meta:
            raise ValueError(f"no {TREE_KEY!r} metadata")
        tensors = {k: f.get_tensor(k).to(device) for k in f.keys()}
    return unflatten_tree(json.loads(meta[TREE_KEY]), tensors)


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())


def capture_rng() -> dict[str, Any]:
    """Every global RNG a training step may draw from (dropout, shuffles), as plain JSON."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what capture_rng returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices); call before building the model for reproducible init."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
