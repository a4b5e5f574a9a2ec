"""Hostile input, tried as a hostile user would: every case runs one `textseq` command in a fresh
process on a file built to break it, and is scored.

    python benchmarks/reliability.py                # the table for benchmarks/RESULTS.md
    python benchmarks/reliability.py --only bytes   # one category

Outcomes: "clean" (the command did its job), "handled" (exit 1 or 2 with one line that names the
cause), "traceback", "hang" (no answer within the time limit), "wrong" (success where an error was
due, or the reverse). Beside the outcome, each case checks that nothing was lost silently (its
input bytes unchanged, counts reported) and that nothing was written outside the case directory
(a sentinel folder beside it is compared before and after). tests/test_hostile.py runs every case.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120
LM_CONFIG = """data: {train: train.txt, valid: valid.txt, level: char, batch_size: 4, bptt: 16}
model: {cell: lstm, emb_dim: 8, hidden_size: 16, num_layers: 1}
train: {optimizer: {lr: 0.01}, max_steps: 4, eval_every: 2, log_every: 1, device: cpu, num_threads: 1, tensorboard: false}
sample: {prime: "KING:", length: 10}
"""
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@dataclass
class Case:
    """One hostile command: its files, its arguments (after `textseq`), what should happen, and checks."""

    name: str
    category: str
    argv: list[str]
    expect: str  # "ok" or "error"
    files: dict[str, str | bytes] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # shared runs to copy in: "lm", "clf"
    stdin: bytes | None = None
    message: str = ""  # text the stderr must contain
    python: str | None = None  # instead of argv: a python program run with the same environment
    check: Callable[[Path, subprocess.CompletedProcess], str] | None = None  # "" or what was lost
    background: list[str] | None = None  # a command started first and killed after


@dataclass
class Result:
    case: Case
    outcome: str
    lost: str
    outside: bool
    seconds: float
    stderr: str


def play(n_lines: int) -> str:
    words = "the king shall speak of love and death tonight my lord what say you good sir".split()
    return "\n".join(f"KING: {' '.join(words[(i * 7 + j) % len(words)] for j in range(8))}." for i in range(n_lines)) + "\n"


def reviews(n: int, extra: str = "") -> str:
    rows = [f"a {'wonderful superb' if i % 2 else 'dull awful'} film number {i},{'pos' if i % 2 else 'neg'}" for i in range(n)]
    return "text,label\n" + "\n".join(rows) + "\n" + extra


def unchanged(name: str, original: str | bytes) -> Callable[[Path, subprocess.CompletedProcess], str]:
    """A check that file `name` still holds exactly what the case wrote."""
    data = original.encode() if isinstance(original, str) else original

    def check(d: Path, _: subprocess.CompletedProcess) -> str:
        path = d / name
        return "" if path.is_file() and path.read_bytes() == data else f"{name} was changed or removed"

    return check


def absent(*names: str) -> Callable[[Path, subprocess.CompletedProcess], str]:
    """A check that no output (or temporary file) by these names was left behind."""

    def check(d: Path, _: subprocess.CompletedProcess) -> str:
        left = [p.name for p in d.iterdir() if any(p.name.startswith(n) for n in names)]
        return f"left behind: {', '.join(left)}" if left else ""

    return check


def says(text: str) -> Callable[[Path, subprocess.CompletedProcess], str]:
    """A check that stderr reports `text` (a count that must not go missing)."""
    return lambda d, done: "" if text in done.stderr else f"stderr does not report {text!r}"


BAD = b"good line\n\xff\xfe broken bytes\nlast line\n"
ODD = "\n".join(["", "a\x00b", "x\x1b[31mred\x1b[0m", "e\u0301 n\u0303", "\u05e9\u05dc\u05d5\u05dd \u202eevil",
                 "I \u2764\ufe0f \U0001f468\u200d\U0001f469\u200d\U0001f467", "\ufb01ne \uff21\uff22", "\u0130stanbul \u0131",
                 "Stra\u00dfe \u1e9e", "a\ufffdb\ufeffc\u200bd", "?!...---"]) + "\n"
LONG = "word " * 1_000_000


def cases() -> list[Case]:
    """Every hostile case, by category."""
    c = [
        # ---------------------------------------------------------------- bad bytes
        Case("preprocess: invalid UTF-8, strict", "bytes", ["preprocess", "-i", "bad.txt", "-o", "out.jsonl", "--jobs", "1"],
             "error", {"bad.txt": BAD}, message="bad.txt:2", check=absent("out.jsonl")),
        Case("preprocess: invalid UTF-8, skip", "bytes", ["preprocess", "-i", "bad.txt", "-o", "out.jsonl", "--jobs", "1",
                                                           "--errors", "skip"], "ok", {"bad.txt": BAD}, check=says("1 skipped")),
        Case("preprocess: invalid UTF-8, replace", "bytes", ["preprocess", "-i", "bad.txt", "-o", "out.jsonl", "--jobs", "1",
                                                              "--errors", "replace"], "ok", {"bad.txt": BAD}),
        Case("train-classifier: invalid UTF-8 in the CSV", "bytes", ["train-classifier", "-c", "clf.yaml", "-o", "run"], "error",
             {"clf.yaml": "", "train.csv": reviews(40).encode() + b"caf\xe9 film,pos\n"}, message="train.csv:42"),
        Case("predict: invalid UTF-8 lines, skip", "bytes", ["predict", "clf", "-i", "bad.txt", "--errors", "skip"], "ok",
             {"bad.txt": BAD}, needs=("clf",), check=says("1 document(s) skipped")),
        Case("predict: invalid UTF-8 on stdin, strict", "bytes", ["predict", "clf"], "error", needs=("clf",), stdin=BAD,
             message="<stdin>:2"),
        Case("eval-lm: invalid UTF-8", "bytes", ["eval-lm", "lm", "-i", "bad.txt"], "error", {"bad.txt": BAD}, needs=("lm",),
             message="bad.txt:2"),
        # ---------------------------------------------------------------- huge lines
        Case("preprocess: one 5 MB line", "huge", ["preprocess", "-i", "long.txt", "-o", "out.jsonl", "--jobs", "1",
                                                    "-c", "characters"], "ok", {"long.txt": LONG}),
        Case("predict: a 5 MB review", "huge", ["predict", "clf", "-i", "long.txt"], "ok", {"long.txt": LONG}, needs=("clf",)),
        Case("generate: a 20,000-character prime", "huge", ["generate", "lm", "--prime-file", "prime.txt", "--length", "5"], "ok",
             {"prime.txt": play(500)[:20000]}, needs=("lm",)),
        Case("train-lm: one 1 MB line", "huge", ["train-lm", "-c", "lm.yaml", "-o", "run"], "ok",
             {"lm.yaml": LM_CONFIG, "train.txt": ("king lord " * 100_000) + "\n", "valid.txt": play(40)}),
        # ---------------------------------------------------------------- odd unicode
        Case("preprocess: odd Unicode, default pipeline", "unicode", ["preprocess", "-i", "odd.txt", "-o", "out.jsonl",
                                                                       "--jobs", "1"], "ok", {"odd.txt": ODD}),
        Case("predict: odd Unicode", "unicode", ["predict", "clf", "-i", "odd.txt"], "ok", {"odd.txt": ODD}, needs=("clf",)),
        Case("generate: a prime of unseen characters", "unicode", ["generate", "lm", "--prime", "\u05e9\U0001f44d\u0130",
                                                                    "--length", "5"], "ok", needs=("lm",),
             check=says("unseen in training")),
        Case("train-lm: odd Unicode corpus", "unicode", ["train-lm", "-c", "lm.yaml", "-o", "run"], "ok",
             {"lm.yaml": LM_CONFIG, "train.txt": play(200) + ODD * 20, "valid.txt": ODD * 20}),
        # ---------------------------------------------------------------- empty input
        Case("preprocess: an empty file", "empty", ["preprocess", "-i", "empty.txt", "-o", "out.jsonl", "--jobs", "1"], "ok",
             {"empty.txt": ""}, check=says("no documents to preprocess")),
        Case("predict: an empty file", "empty", ["predict", "clf", "-i", "empty.txt"], "ok", {"empty.txt": ""}, needs=("clf",),
             check=says("no texts")),
        Case("train-lm: an empty training file", "empty", ["train-lm", "-c", "lm.yaml", "-o", "run"], "error",
             {"lm.yaml": LM_CONFIG, "train.txt": "", "valid.txt": play(40)}, message="train.txt"),
        Case("train-classifier: a header-only CSV", "empty", ["train-classifier", "-c", "clf.yaml", "-o", "run"], "error",
             {"clf.yaml": "", "train.csv": "text,label\n"}, message="train.csv"),
        Case("eval-classifier: an empty file", "empty", ["eval-classifier", "clf", "-i", "empty.csv"], "error",
             {"empty.csv": "text,label\n"}, needs=("clf",), message="no documents"),
        # ---------------------------------------------------------------- configs
        Case("config: an unknown key", "config", ["train-lm", "-c", "lm.yaml", "-o", "run"], "error",
             {"lm.yaml": LM_CONFIG.replace("hidden_size", "hiden_size")}, message="hiden_size"),
        Case("config: a boolean for a size", "config", ["train-lm", "-c", "lm.yaml", "-o", "run"], "error",
             {"lm.yaml": LM_CONFIG.replace("hidden_size: 16", "hidden_size: true")}, message="model.hidden_size"),
        Case("config: a fraction for a size", "config", ["train-lm", "-c", "lm.yaml", "-o", "run"], "error",
             {"lm.yaml": LM_CONFIG.replace("hidden_size: 16", "hidden_size: 16.5")}, message="model.hidden_size"),
        Case("config: a YAML alias bomb", "config", ["train-lm", "-c", "bomb.yaml", "-o", "run"], "error",
             {"bomb.yaml": BOMB}, message="bomb.yaml"),
        Case("config: an alias bomb in --set", "config", ["train-lm", "-c", "lm.yaml", "-o", "run", "--set",
                                                           "sample.prime={" + BOMB.strip().replace("\n", ", ") + "}"], "error",
             {"lm.yaml": LM_CONFIG}, message="--set"),
        Case("config: a --set typo", "config", ["train-lm", "-c", "lm.yaml", "-o", "run", "--set", "trian.max_steps=3"], "error",
             {"lm.yaml": LM_CONFIG}, message="--set trian.max_steps"),
        Case("config: a missing file", "config", ["train-lm", "-c", "nowhere.yaml", "-o", "run"], "error", message="nowhere"),
        Case("config: a list at the top", "config", ["train-lm", "-c", "list.yaml", "-o", "run"], "error",
             {"list.yaml": "- a\n- b\n"}, message="list.yaml"),
        Case("config: invalid YAML", "config", ["train-lm", "-c", "broken.yaml", "-o", "run"], "error",
             {"broken.yaml": "data: {train: [\n"}, message="broken.yaml"),
        Case("config: an unknown preset", "config", ["train-lm", "-c", "char_lstn", "-o", "run"], "error",
             message="char_lstm"),
        Case("config: a directory", "config", ["train-lm", "-c", "folder", "-o", "run"], "error",
             {"folder/x.txt": ""}, message="folder"),
        # ---------------------------------------------------------------- numbers on the command line
        Case("preprocess --limit -1", "numbers", ["preprocess", "-i", "in.txt", "-o", "out.jsonl", "--limit", "-1"], "error",
             {"in.txt": "one\n"}, message="--limit"),
        Case("predict --batch-size 0", "numbers", ["predict", "clf", "hello", "--batch-size", "0"], "error", needs=("clf",),
             message="--batch-size"),
        Case("generate --temperature -1", "numbers", ["generate", "lm", "--temperature", "-1"], "error", needs=("lm",),
             message="--temperature"),
        Case("train-lm --max-steps 0", "numbers", ["train-lm", "-c", "lm.yaml", "-o", "run", "--max-steps", "0"], "error",
             {"lm.yaml": LM_CONFIG}, message="--max-steps"),
        # ---------------------------------------------------------------- outputs
        Case("preprocess: output is the input", "outputs", ["preprocess", "-i", "in.txt", "-o", "in.txt"], "error",
             {"in.txt": play(5)}, check=unchanged("in.txt", play(5))),
        Case("preprocess: output is a symlink to the input", "outputs", ["preprocess", "-i", "in.txt", "-o", "link.jsonl"],
             "error", {"in.txt": play(5), "link.jsonl": "->in.txt"}, check=unchanged("in.txt", play(5))),
        Case("preprocess: output exists", "outputs", ["preprocess", "-i", "in.txt", "-o", "out.jsonl"], "error",
             {"in.txt": play(5), "out.jsonl": "keep me\n"}, message="--force", check=unchanged("out.jsonl", "keep me\n")),
        Case("preprocess: output is a directory", "outputs", ["preprocess", "-i", "in.txt", "-o", "folder"], "error",
             {"in.txt": play(5), "folder/x.txt": ""}, message="folder"),
        Case("preprocess: output's folder is missing", "outputs", ["preprocess", "-i", "in.txt", "-o", "no/such/out.jsonl"],
             "error", {"in.txt": play(5)}, message="no/such"),
        Case("preprocess: a 300-character name", "outputs", ["preprocess", "-i", "in.txt", "-o", "x" * 300 + ".jsonl"], "error",
             {"in.txt": play(5)}),
        Case("train-lm --resume through a planted symlink", "outputs", ["train-lm", "-o", "lm", "--resume", "--max-steps", "6"],
             "ok", {"lm/sample.txt": "->../../outside/keep.txt", "lm/report.json": "->../../outside/keep.txt"}, needs=("lm",)),
        # ---------------------------------------------------------------- faults injected into OS calls
        Case("preprocess: disk full at the final rename", "faults", [], "error", {"in.txt": play(50)},
             python="import errno, os\nreal = os.replace\n"
                    "def full(a, b, *k, **kw):\n    raise OSError(errno.ENOSPC, 'No space left on device', str(b))\n"
                    "os.replace = full\nfrom textseq.cli import main\n"
                    "raise SystemExit(main(['preprocess', '-i', 'in.txt', '-o', 'out.jsonl', '--jobs', '1']))",
             message="No space left on device", check=absent("out.jsonl")),
        Case("train-lm: disk full while writing a checkpoint", "faults", [], "error", {"lm.yaml": LM_CONFIG,
                                                                                      "train.txt": play(300), "valid.txt": play(40)},
             python="import errno\nimport textseq.train.checkpoint as c\nreal = c.save_checkpoint\n"
                    "def full(run_dir, step, **kw):\n"
                    "    if step > 2:\n        raise OSError(errno.ENOSPC, 'No space left on device', str(run_dir))\n"
                    "    return real(run_dir, step, **kw)\n"
                    "c.save_checkpoint = full\nfrom textseq.cli import main\n"
                    "raise SystemExit(main(['train-lm', '-c', 'lm.yaml', '-o', 'run']))",
             message="No space left on device",
             check=lambda d, _: "" if (d / "run" / "step-000002" / "trainer.json").is_file() else "step-000002 lost"),
        Case("embed convert: permission denied", "faults", [], "error", {"v.txt": "king 0.1 0.2\nqueen 0.2 0.1\n"},
             python="import builtins, errno\nreal = builtins.open\n"
                    "def deny(f, mode='r', *a, **k):\n"
                    "    if 'w' in mode:\n        raise PermissionError(errno.EACCES, 'Permission denied', str(f))\n"
                    "    return real(f, mode, *a, **k)\n"
                    "builtins.open = deny\nfrom textseq.cli import main\n"
                    "raise SystemExit(main(['embed', 'convert', 'v.txt', 'out.txt', '--format', 'word2vec']))",
             message="Permission denied"),
        # ---------------------------------------------------------------- two processes, one run
        Case("train-lm: a second trainer on a run in training", "concurrency", ["train-lm", "-c", "lm.yaml", "-o", "run"], "error",
             {"lm.yaml": LM_CONFIG.replace("max_steps: 4", "max_steps: 100000")}, message="in use by another training process",
             background=["train-lm", "-c", "lm.yaml", "-o", "run"]),
        Case("train-lm: resume after SIGKILL (a stale lock)", "concurrency", ["train-lm", "-o", "lm", "--resume", "--max-steps",
                                                                              "6"], "ok", {"lm/.lock": "99999\n"}, needs=("lm",)),
        Case("generate while the run trains", "concurrency", ["generate", "lm", "--length", "5"], "ok", needs=("lm",),
             background=["train-lm", "-o", "lm", "--resume", "--max-steps", "100000"]),
        # ---------------------------------------------------------------- runaway training
        Case("train-lm: a learning rate that explodes", "divergence", ["train-lm", "-c", "lm.yaml", "-o", "run", "--set",
                                                                        "train.optimizer.lr=1e6", "--set", "train.clip_norm=null",
                                                                        "--max-steps", "200"], "error",
             {"lm.yaml": LM_CONFIG}, message="step"),
    ]
    for case in c:  # job configs: the tiny training files they name, unless the case brings its own
        if "clf.yaml" in case.files:
            case.files["clf.yaml"] = CLF_CONFIG
            case.files.setdefault("valid.csv", reviews(16))
        if "lm.yaml" in case.files or "bomb.yaml" in case.files:
            case.files.setdefault("train.txt", play(300))
            case.files.setdefault("valid.txt", play(40))
    return c


CLF_CONFIG = """data: {train: train.csv, valid: valid.csv, min_freq: 1, max_tokens: 12, batch_size: 8,
       pipeline: {stages: [{stage: case, mode: lower}, {stage: regex_words}]}}
model: {cell: gru, emb_dim: 16, hidden_size: 16, pooling: mean}
train: {optimizer: {lr: 0.02}, max_steps: 4, eval_every: 2, log_every: 1, device: cpu, num_threads: 1, tensorboard: false}
"""


def environment() -> dict[str, str]:
    """The commands' environment: this interpreter's textseq, the fetched corpora."""
    from textseq.corpora.cache import cache_dir

    return {**os.environ, "PYTHONPATH": str(ROOT), "TEXTSEQ_CACHE": str(cache_dir()), "PYTHONUNBUFFERED": "1"}


def textseq(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "textseq", *argv]


def shared_runs(base: Path, env: dict[str, str]) -> dict[str, Path]:
    """A tiny character LM run and a tiny classifier run, trained once for the cases that need one."""
    runs = {}
    for name, config, command, data in (
        ("lm", LM_CONFIG, "train-lm", {"train.txt": play(300), "valid.txt": play(40)}),
        ("clf", CLF_CONFIG, "train-classifier", {"train.csv": reviews(48), "valid.csv": reviews(16)}),
    ):
        d = base / f"shared-{name}"
        d.mkdir()
        (d / "job.yaml").write_text(config, encoding="utf-8")
        for file, text in data.items():
            (d / file).write_text(text, encoding="utf-8")
        subprocess.run(textseq([command, "-c", "job.yaml", "-o", "run", "-q"]), cwd=d, env=env, check=True, timeout=TIMEOUT)
        runs[name] = d
    return runs


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _prepare(case: Case, d: Path, runs: dict[str, Path]) -> None:
    for name in case.needs:  # the shared run and the inputs it was trained from (its config names them)
        shutil.copytree(runs[name] / "run", d / name)
        for f in runs[name].iterdir():
            if f.is_file():
                shutil.copy(f, d / f.name)
    for name, content in case.files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        if isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def run_case(case: Case, base: Path, runs: dict[str, Path], env: dict[str, str]) -> Result:
    """Run one case in its own directory under `base` and score it."""
    d = base / hashlib.sha1(case.name.encode()).hexdigest()[:10]
    outside = base / "outside"
    d.mkdir()
    outside.mkdir(exist_ok=True)
    (outside / "keep.txt").write_text("the user's file\n", encoding="utf-8")
    _prepare(case, d, runs)
    before = _snapshot(outside)
    background = None
    if case.background:
        background = subprocess.Popen(textseq(case.background), cwd=d, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_for_training(d, case)
    argv = [sys.executable, "-c", case.python] if case.python else textseq(case.argv)
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=d, env=env, input=case.stdin, capture_output=True, timeout=TIMEOUT)
        outcome = _outcome(case, done.returncode, done.stderr.decode("utf-8", "replace"))
        done = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                           done.stderr.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired:
        done, outcome = subprocess.CompletedProcess(argv, -1, "", ""), "hang"
    finally:
        if background is not None:
            os.killpg(background.pid, signal.SIGKILL)
            background.wait()
    seconds = time.monotonic() - t0
    lost = case.check(d, done) if case.check and outcome != "hang" else ""
    return Result(case, outcome, lost, _snapshot(outside) != before, seconds, done.stderr)


def _wait_for_training(d: Path, case: Case) -> None:
    """Until the background trainer has written its first metrics (or 60 s)."""
    target = d / case.background[case.background.index("-o") + 1] / "metrics.jsonl"
    size0 = target.stat().st_size if target.exists() else 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not target.exists() or target.stat().st_size <= size0):
        time.sleep(0.1)


def _outcome(case: Case, code: int, stderr: str) -> str:
    if "Traceback" in stderr:
        return "traceback"
    if case.expect == "ok":
        return "clean" if code == 0 else "wrong"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    one_line = bool(lines) and ("error:" in lines[-1])
    return "handled" if code in (1, 2) and one_line and case.message in stderr else "wrong"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="one category")
    args = parser.parse_args()
    env = environment()
    chosen = [c for c in cases() if args.only in (None, c.category)]
    with tempfile.TemporaryDirectory(prefix="textseq-hostile-") as tmp:
        base = Path(tmp)
        runs = shared_runs(base, env)
        results = [run_case(case, base, runs, env) for case in chosen]
    for r in results:
        flags = (f" LOST: {r.lost}" if r.lost else "") + (" WROTE OUTSIDE" if r.outside else "")
        print(f"{r.outcome:<9} {r.seconds:5.1f}s  [{r.case.category}] {r.case.name}{flags}")
        if r.outcome not in ("clean", "handled"):
            print("          " + r.stderr.strip().replace("\n", "\n          ")[-800:])
    counts = Counter(r.outcome for r in results)
    print(f"\n| cases | handled cleanly | tracebacks | hangs | wrong outcome | silent losses | writes outside |\n"
          f"|---:|---:|---:|---:|---:|---:|---:|\n"
          f"| {len(results)} | {counts['clean'] + counts['handled']} | {counts['traceback']} | {counts['hang']} | "
          f"{counts['wrong']} | {sum(bool(r.lost) for r in results)} | {sum(r.outside for r in results)} |")


if __name__ == "__main__":
    main()
