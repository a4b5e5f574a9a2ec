"""What every benchmark prints about the machine it ran on (imported by the scripts beside it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(**extra: Any) -> dict[str, Any]:
    """CPU, cores, Python and torch versions, load average; `extra` adds script-specific entries."""
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "loadavg_1m": round(load, 2),
            **extra}


def describe(info: dict[str, Any]) -> str:
    """One line: 'AMD EPYC | 2 cores | torch 2.13.0+cpu | python 3.11.7 | load 0.93'."""
    return (f"{info['cpu']} | {info['cores']} cores | torch {info['torch']} | python {info['python']} | "
            f"load {info['loadavg_1m']}")
