"""Every command the README shows runs, so the README cannot drift from the code.

The fenced `sh` blocks are run in order with bash in one empty directory (with the small input files
the walk-throughs assume), each with a tiny budget appended; the `python` blocks are run with their
budgets swapped for tiny ones. A README command this file has no budget for fails the test: a new
command must be added here, and so is run too. `make demo`'s command comes from the Makefile.
"""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LM_TINY = "--max-steps 3 --set data.eval_tokens=2000 --set sample.length=20"
CLF_TINY = ("--set data.train=tiny_train.csv --set data.valid=tiny_valid.csv --set data.test=null --max-steps 3 "
            "--set data.workers=1")
# README command (as written, comments stripped) -> what the test appends to it.
BUDGETS = {
    "textseq configs list": "",
    "textseq configs show char_gru > my_lm.yaml": "",
    "textseq stages": "",
    "textseq stages stopwords": "",
    "textseq train-lm -c my_lm.yaml -o runs/my-lm --max-steps 200": LM_TINY,
    "textseq train-lm -c char_lstm -o runs/char-lstm --max-minutes 15": LM_TINY,
    "textseq train-lm -o runs/char-lstm --resume --max-minutes 20": "--max-steps 5",
    'textseq generate runs/char-lstm --prime "ROMEO:" --length 300 --temperature 0.8 --seed 1': "",
    "textseq eval-lm runs/char-lstm -i shakespeare:test": "",
    "textseq grad-probe --cell rnn --cell lstm -o gradients.png": "--length 20 --hidden-size 16",
    "textseq plot runs/char-lstm": "",
    "head -n 6000 my_book.txt > my_train.txt && tail -n 1000 my_book.txt > my_valid.txt": "",
    "textseq train-lm -c char_lstm -o runs/my-book --set data.train=my_train.txt --set data.valid=my_valid.txt "
    "--set data.test=null --max-minutes 10": LM_TINY,
    'textseq generate runs/my-book --prime "The " --length 200': "",
    "textseq train-classifier -c imdb_gru -o runs/imdb-gru --max-minutes 5": CLF_TINY,
    'textseq predict runs/imdb-gru "A wonderful film." "Dull and far too long."': "",
    'echo "What a waste of two hours." | textseq predict runs/imdb-gru': "",
    "textseq eval-classifier runs/imdb-gru -i imdb:test": "",
    "textseq train-classifier -c imdb_hybrid -o runs/imdb-hybrid":
        "--set valid=tiny_valid.csv --set 'members=[{config: imdb_nbsvm, name: nbsvm, set: [\"model.ngrams=[1,2,3]\", "
        "data.train=tiny_train.csv, data.valid=tiny_valid.csv, data.test=null, data.workers=1]}, {config: imdb_bilstm_glove, "
        "name: bilstm, set: [data.pipeline=sentiment_lm, data.train=tiny_train.csv, data.valid=tiny_valid.csv, "
        "data.test=null, data.workers=1, train.max_steps=2]}]'",
    "textseq train-classifier -c imdb_nbsvm -o runs/imdb-nbsvm":
        "--set data.train=tiny_train.csv --set data.valid=tiny_valid.csv --set data.test=null --set data.workers=1",
    "textseq ensemble runs/imdb-nbsvm runs/imdb-gru -o runs/imdb-stack": "",
    "textseq train-classifier -c imdb_gru -o runs/my-reviews --set data.train=my_reviews.csv --set "
    "data.valid=my_valid.csv --set data.test=null --set data.text_column=review --set data.label_column=stars "
    "--epochs 3": "--max-steps 3",
    "textseq predict runs/my-reviews -i my_new_reviews.csv --text-column review -o my_labels.jsonl": "",
    "textseq preprocess -i imdb:train -o imdb.train.jsonl --limit 1000": "--limit 50 --jobs 1",
    "textseq preprocess -c sentiment -i reviews.csv --text-column review --label-column sentiment -o out.jsonl "
    "--errors skip": "--jobs 1",
    "textseq embed train -c glove -o runs/glove-imdb --set max_documents=5000 --set glove.epochs=5":
        "--set max_documents=300 --set glove.epochs=1 --set glove.min_count=2 --set n_proc=1",
    "textseq embed eval runs/glove-imdb": "",
    "textseq train-lm -c char_lstm -o runs/char-ddp --nproc 2 --max-minutes 10": LM_TINY,
    "textseq preprocess -i imdb:train -o imdb.train.ray.jsonl --engine ray --jobs 2 --limit 1000": "--limit 50",
    "textseq preprocess -i imdb:train -o imdb-train/ --format parquet --shard-size 500 --limit 1000":
        "--limit 50 --shard-size 20 --jobs 1",
    "textseq embed neighbors glove-6b-50d king film --topn 5": "--max-words 20000",
    "textseq embed neighbors glove-6b-50d --analogy king man woman": "--max-words 20000",
    "textseq embed convert runs/glove-imdb glove-imdb.txt --format glove": "",
}
# README Python text -> what the test runs instead (each must occur in the README).
PYTHON_SWAPS = {
    'train_lm("char_lstm", "runs/py-char", overrides=["train.max_minutes=5"])':
        'train_lm("char_lstm", "runs/py-char", overrides=["train.max_steps=2", "data.eval_tokens=2000", "sample.length=10"])',
    'train_classifier("imdb_gru", "runs/py-imdb", overrides=["train.max_minutes=5"])':
        'train_classifier("imdb_gru", "runs/py-imdb", overrides=["train.max_steps=2", "data.train=tiny_train.csv", '
        '"data.valid=tiny_valid.csv", "data.test=null", "data.workers=1"])',
}


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the ```LANGUAGE blocks of a Markdown text."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def shell_commands(block: str) -> list[str]:
    """Commands of an sh block: continuation lines joined, blank lines and trailing comments dropped."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(re.sub(r"\s+", " ", line))
    return commands


def readme_commands() -> list[str]:
    """Every shell command of the README, in order."""
    return [c for block in fenced_blocks(README.read_text(encoding="utf-8"), "sh") for c in shell_commands(block)]


def with_budget(command: str, extra: str) -> str:
    """`command` with `extra` appended to its textseq part (before a redirection)."""
    if not extra:
        return command
    head, sep, tail = command.partition(" > ")
    return f"{head} {extra}{sep}{tail}"


def write_inputs(cwd: Path) -> None:
    """The files the walk-throughs name: a book, review CSVs, a labelled CSV with other column names."""
    rng = random.Random(0)
    words = ("the king shall speak of love and death tonight my lord what say you good sir i will not go here "
             "comes the queen with her fair daughter o sweet night be gone thou art a villain").split()
    lines = [f"{rng.choice(['KING', 'QUEEN', 'LEAR'])}: " + " ".join(rng.choices(words, k=rng.randint(5, 12))) + "."
             for _ in range(7200)]
    (cwd / "my_book.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    good, bad = ("wonderful", "superb", "moving", "great"), ("dull", "awful", "boring", "weak")

    def reviews(path: Path, n: int, header: tuple[str, str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(header)
            for i in range(n):
                label = ("pos", "neg")[i % 2]
                adjectives = good if label == "pos" else bad
                out.writerow([f"a {rng.choice(adjectives)} film with a {rng.choice(adjectives)} cast", label])

    reviews(cwd / "tiny_train.csv", 64, ("text", "label"))
    reviews(cwd / "tiny_valid.csv", 16, ("text", "label"))
    reviews(cwd / "my_reviews.csv", 64, ("review", "stars"))
    reviews(cwd / "my_valid.csv", 16, ("review", "stars"))
    reviews(cwd / "my_new_reviews.csv", 5, ("review", "stars"))
    reviews(cwd / "reviews.csv", 20, ("review", "sentiment"))


def makefile_demo_command() -> str:
    """The textseq command of `make demo`, with $(PY) -m textseq spelled as the console script."""
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M)
    assert recipe, "Makefile has no demo target"
    lines = [line.strip() for line in recipe.group(1).splitlines() if "textseq train-lm" in line]
    assert len(lines) == 1, recipe.group(1)
    return lines[0].replace("$(PY) -m textseq", "textseq").replace("$(DEMO_DIR)", "runs/demo")


def test_every_readme_command_has_a_budget_and_every_budget_a_command():
    commands = readme_commands()
    assert commands, "no ```sh blocks found in the README"
    assert [c for c in commands if c not in BUDGETS] == [], "README commands this test does not know: add them to BUDGETS"
    assert [c for c in BUDGETS if c not in commands] == [], "BUDGETS entries the README no longer shows: remove them"
    text = README.read_text(encoding="utf-8")
    assert [s for s in PYTHON_SWAPS if s not in text] == [], "PYTHON_SWAPS entries the README no longer shows"


def test_readme_commands_and_python_run(tmp_path):
    pytest.importorskip("torch")
    from textseq.corpora import is_fetched

    if not all(is_fetched(name) for name in ("shakespeare", "imdb", "glove-6b-50d")):
        pytest.skip("the corpora are not fetched (make setup fetches them)")
    write_inputs(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "TEXTSEQ_CACHE": str(_cache_dir())}
    for command in [with_budget(makefile_demo_command(), LM_TINY)] + [with_budget(c, BUDGETS[c]) for c in readme_commands()]:
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, f"{command}\n{done.stderr[-3000:]}"
    assert (tmp_path / "runs" / "char-lstm" / "step-000005").is_dir()  # the resumed run went on
    assert (tmp_path / "my_labels.jsonl").read_text().count("\n") == 5
    for block in fenced_blocks(README.read_text(encoding="utf-8"), "python"):
        for old, new in PYTHON_SWAPS.items():
            block = block.replace(old, new)
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{block}\n{done.stderr[-3000:]}"


def _cache_dir() -> Path:
    from textseq.corpora.cache import cache_dir

    return cache_dir()
