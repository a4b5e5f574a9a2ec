"""The built wheel works on its own: installed into a fresh environment outside the checkout and run
from an empty directory, it finds its presets (package data, not the checkout's configs/), runs the
default pipeline and trains a few steps of `-c char_lstm`.

The fresh environment gets the project environment's site-packages through a .pth file, so torch and
spaCy import without being installed again; its own site-packages comes first on sys.path, so
`textseq` is the wheel's. The wheel is built from a copy of the sources without build isolation
(setuptools from the dev extra): nothing is downloaded, and the checkout gets no build/ folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "The cats were running quickly, weren't they?"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, install it into a new venv; returns the env's python and a clean environ."""
    pytest.importorskip("setuptools", reason="the dev extra installs setuptools, which builds the wheel")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "textseq", src / "textseq", symlinks=True, ignore=ignore)  # textseq/configs stays a link
    shutil.copytree(ROOT / "configs", src / "configs", ignore=ignore)
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(src)], env=pip_env)
    (wheel,) = (tmp / "dist").glob("textseq-*.whl")

    env_dir = tmp / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "project-deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         env=pip_env)

    from textseq.corpora.cache import cache_dir

    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ["TEXTSEQ_CACHE"] = str(cache_dir())  # where a user who fetched the corpora keeps them
    work = tmp / "empty"
    work.mkdir()
    return {"python": str(python), "env": env_dir, "environ": environ, "cwd": work, "wheel": wheel}


def _in_env(installed: dict, *args: str) -> subprocess.CompletedProcess:
    return _run([installed["python"], *args], cwd=installed["cwd"], env=installed["environ"])


def test_wheel_ships_presets_and_runs_the_default_pipeline(installed):
    import zipfile

    from textseq.presets import presets, scan
    from textseq.text.pipeline import Pipeline

    with zipfile.ZipFile(installed["wheel"]) as wheel:
        shipped = {n for n in wheel.namelist() if "configs/" in n}
    assert shipped == {f"textseq/configs/{p.relpath}" for p in scan()}  # every preset, inside the package only

    script = ("import json, textseq; from textseq.presets import presets; from textseq.text.pipeline import Pipeline; "
              f"print(json.dumps([textseq.__file__, sorted(presets()), Pipeline.default().tokens({SENTENCE!r})]))")
    where, names, tokens = json.loads(_in_env(installed, "-c", script).stdout)
    assert Path(where).resolve().is_relative_to(installed["env"].resolve())
    assert names == sorted(presets())
    assert tokens == Pipeline.default().tokens(SENTENCE) and "cat" in tokens
    console = installed["env"] / "bin" / "textseq"  # the [project.scripts] entry point
    shown = _run([str(console), "configs", "show", "char_lstm"], cwd=installed["cwd"], env=installed["environ"]).stdout
    assert shown == (ROOT / "configs" / "lm" / "char_lstm.yaml").read_text(encoding="utf-8")


def test_wheel_trains_a_preset_from_an_empty_directory(installed):
    from textseq.corpora import corpus_dir, is_fetched

    if not is_fetched("shakespeare"):
        pytest.skip(f"shakespeare is not fetched in {corpus_dir('shakespeare').parent} (run `make corpora`)")
    run_dir = installed["cwd"] / "run"
    _in_env(installed, "-m", "textseq", "train-lm", "-c", "char_lstm", "-o", str(run_dir), "--no-progress",
            "--set", "train.max_steps=3", "--set", "train.eval_every=3", "--set", "train.log_every=1",
            "--set", "model.emb_dim=8", "--set", "model.hidden_size=16", "--set", "data.test=null",
            "--set", "data.eval_tokens=2000", "--set", "sample.length=10")
    assert (run_dir / "latest").read_text(encoding="utf-8").strip() == "step-000003"
    assert (run_dir / "step-000003" / "model.safetensors").is_file()
    assert (run_dir / "config.yaml").is_file()
