"""CLI start-up time: `python -m textseq --help`, `corpora list` and `preprocess` of 40 lines, median of N runs.

    python benchmarks/startup.py                 # the working tree only
    python benchmarks/startup.py --before REV    # REV's textseq/ (from `git archive`) side by side

Each command runs in a fresh interpreter, as a user's shell would start it; the "heavy" column
says which of torch, tqdm, safetensors and datasets the command left imported (one extra run). Both trees run under the same interpreter and environment, interleaved, so a
busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "tqdm", "safetensors", "datasets")


def commands(workdir: Path) -> dict[str, list[str]]:
    """The measured command lines (arguments after `python -m textseq`)."""
    text = workdir / "small.txt"
    text.write_text("The cat sat on the mat.\nIt didn't like the dog!\n" * 20, encoding="utf-8")
    out = workdir / "small.jsonl"
    return {
        "--help": ["--help"],
        "corpora list": ["corpora", "list"],
        "preprocess, 1 process": ["preprocess", "-i", str(text), "-o", str(out), "--jobs", "1", "--no-progress"],
        "preprocess, 2 workers": ["preprocess", "-i", str(text), "-o", str(out), "--jobs", "2", "--no-progress"],
    }


def extract(rev: str, dest: Path) -> Path:
    """REV's textseq/ package (and configs/, which it reads) unpacked under dest."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "textseq", "configs"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def clear_outputs(argv: list[str]) -> None:
    """Remove what the last run of a command wrote (`-o` and its pipeline spec): textseq refuses to
    overwrite outputs without --force, which older trees do not know."""
    if "-o" in argv:
        out = Path(argv[argv.index("-o") + 1])
        for path in (out, Path(f"{out}.pipeline.yaml")):
            path.unlink(missing_ok=True)


def run_once(tree: Path, argv: list[str]) -> float:
    """Wall time of one `python -m textseq argv` with `tree` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    clear_outputs(argv)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "textseq", *argv], cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{tree}: textseq {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def heavy_imports(tree: Path, argv: list[str]) -> str:
    """Which HEAVY packages the command left in sys.modules (one more run, through runpy)."""
    code = ("import runpy, sys\n"
            "try:\n    runpy.run_module('textseq', run_name='__main__', alter_sys=True)\n"
            "except SystemExit:\n    pass\n"
            f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if sys.modules.get(m) is not None), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    clear_outputs(argv)
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=tree, env=env, capture_output=True, text=True)
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY:")][-1]
    return line[len("HEAVY:"):].replace(",", ", ") or "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", metavar="REV", help="also measure this git revision's textseq/")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="textseq-startup-") as tmp:
        tmp_path = Path(tmp)
        trees = {"now": ROOT}
        if args.before:
            trees = {f"before ({args.before})": extract(args.before, tmp_path / "before"), **trees}
        cmds = commands(tmp_path)
        times: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in cmds}
        for tree in trees.values():  # warm the disk cache and byte-code files once
            run_once(tree, cmds["--help"])
        for _ in range(args.runs):
            for cname, argv in cmds.items():
                for tname, tree in trees.items():
                    times[(tname, cname)].append(run_once(tree, argv))
        heavy = {(t, c): heavy_imports(trees[t], argv) for t in trees for c, argv in cmds.items()}

    print(f"{cpu_model()} | {os.cpu_count()} cores | python {platform.python_version()} | "
          f"load {os.getloadavg()[0]:.2f} | median of {args.runs} runs")
    print(f"{'command':<24} {'tree':<22} {'median s':>9} {'min s':>7}  heavy imports")
    for cname in cmds:
        for tname in trees:
            ts = times[(tname, cname)]
            print(f"{cname:<24} {tname:<22} {statistics.median(ts):>9.3f} {min(ts):>7.3f}  {heavy[(tname, cname)]}")


if __name__ == "__main__":
    main()
