"""The preprocessing engines: "ray" gives what "local" gives, bad input included.

The Ray tests need the `ray` extra (`make setup` installs it). Ray takes seconds to start, so they
share one local 2-CPU Ray for the module, except the CLI test, which starts and stops its own in a
subprocess and checks that none of Ray's processes outlive it.
"""

from __future__ import annotations

import csv
import json
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textseq.cli import main
from textseq.errors import InputError, ResourceMissingError
from textseq.text.engines import ENGINES, make_engine
from textseq.text.files import preprocess_to_jsonl
from textseq.text.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
WORDS = ("The cats were running quickly past https://x.org and dogs barked at them; "
         "Ünïcödé text, numbers 1,234 and e-mail a@b.io don't stop it!").split()


def _corpus(path: Path, n: int) -> Path:
    """A CSV of `n` varied reviews with labels, some empty."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(n):
            words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(i % 23)]
            writer.writerow([" ".join(words), "pos" if i % 3 else "neg"])
    return path


def _ray_processes() -> set[int]:
    """Pids of Ray's own daemons (the GCS server and raylets) running now."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"gcs_server" in cmd or b"/raylet" in cmd:
                pids.add(int(entry.name))
    return pids


def test_engines_are_chosen_by_name():
    assert ENGINES.names() == ["local", "ray"]
    with pytest.raises(ValueError, match="unknown preprocessing engine 'rya' \\(did you mean 'ray'\\?\\)"):
        make_engine("rya")


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what the import system does for a missing package
    with pytest.raises(ResourceMissingError, match=r"pip install 'textseq\[ray\]'"):
        make_engine("ray").__enter__()
    src = tmp_path / "in.txt"
    src.write_text("one line\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["preprocess", "-i", str(src), "-o", str(out), "--engine", "ray"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'textseq[ray]'" in err[0] and not out.exists()


needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the ray extra is not installed: pip install 'textseq[ray]'")


@needs_ray
def test_cli_on_its_own_local_ray_matches_local_and_stops_ray(tmp_path):
    src = _corpus(tmp_path / "reviews.csv", 300)
    before = _ray_processes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / f"{engine}.jsonl"
        cmd = [sys.executable, "-m", "textseq", "preprocess", "-i", str(src), "-o", str(outs[engine]), "--jobs", "2",
               "--label-column", "label", "--offsets", "--batch-size", "16", "--engine", engine]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("preprocess: 300 documents, ")
    assert outs["ray"].read_bytes() == outs["local"].read_bytes()
    assert not _ray_processes() - before, "Ray's daemons outlived the command"


@needs_ray
def test_an_unreachable_cluster_is_one_line_at_once(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.txt"
    src.write_text("one line\n", encoding="utf-8")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # nothing listens on port 1
    assert main(["preprocess", "-i", str(src), "-o", str(tmp_path / "out.jsonl"), "--engine", "ray"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address 127.0.0.1:1: no Ray cluster answers there" in err[0]
    assert not (tmp_path / "out.jsonl").exists()


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def _run(engine: str, pipeline: Pipeline, src: Path, out: Path, **kw):
    # One local process here: the local pool beside a running Ray has its own test below.
    jobs = 2 if engine == "ray" else 1
    return preprocess_to_jsonl(pipeline, src, out, n_proc=jobs, progress=False, engine=engine, **kw)


@needs_ray
def test_ray_gives_the_local_documents_in_order(local_ray, tmp_path):
    """Same records, same order, same fields, same counts: token pipeline with offsets and labels
    over many blocks, a text-to-text pipeline, and the embedding token file."""
    src = _corpus(tmp_path / "reviews.csv", 1000)
    pipeline = Pipeline.default()
    summaries = {}
    for engine in ("local", "ray"):
        summaries[engine] = _run(engine, pipeline, src, tmp_path / f"{engine}.jsonl", label_column="label",
                                 with_offsets=True, batch_size=16)
    local = (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.jsonl").read_bytes() == local and local.count(b"\n") == 1000
    assert b'"label": "neg"' in local and b'"offsets"' in local
    for field in ("documents", "tokens", "skipped", "empty", "replaced", "malformed"):
        assert getattr(summaries["ray"], field) == getattr(summaries["local"], field), field

    text_only = Pipeline.from_spec({"stages": [{"stage": "case"}]})
    for engine in ("local", "ray"):
        _run(engine, text_only, src, tmp_path / f"text-{engine}.jsonl", batch_size=64)
    assert (tmp_path / "text-ray.jsonl").read_bytes() == (tmp_path / "text-local.jsonl").read_bytes()

    from textseq.embeddings.train import EmbedConfig, prepare_token_file

    files = {}
    for engine in ("local", "ray"):
        cfg = EmbedConfig(method="word2vec", corpus=[str(src)], token_cache=str(tmp_path / f"cache-{engine}"))
        files[engine], _ = prepare_token_file(cfg, pipeline, engine=engine)
    assert files["ray"].read_bytes() == files["local"].read_bytes() and files["local"].stat().st_size > 1000


@needs_ray
def test_bad_input_under_ray_obeys_errors_like_local(local_ray, tmp_path):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"good line here\nbad \xff\xfe byte\n\nanother \xc3( bad one\nthe last cats ran\n")
    pipeline = Pipeline.default()
    messages = {}
    for engine in ("local", "ray"):
        with pytest.raises(InputError) as err:
            _run(engine, pipeline, src, tmp_path / f"strict-{engine}.jsonl")
        messages[engine] = str(err.value)
        assert not (tmp_path / f"strict-{engine}.jsonl").exists()
    assert messages["ray"] == messages["local"] and "bad.txt" in messages["ray"] and "line 2" in messages["ray"]
    assert "\n" not in messages["ray"]

    for policy, expected in (("skip", (3, 2, 1, 0)), ("replace", (5, 0, 1, 2))):
        got = {}
        for engine in ("local", "ray"):
            out = tmp_path / f"{policy}-{engine}.jsonl"
            s = _run(engine, pipeline, src, out, errors=policy)
            got[engine] = (s.documents, s.skipped, s.empty, s.replaced, s.malformed, s.tokens, out.read_bytes())
        assert got["ray"] == got["local"], policy
        assert got["ray"][:4] == expected, policy


def test_local_workers_fork_unless_ray_runs(monkeypatch):
    from textseq.text.engines import worker_context

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed (or not imported)
    assert worker_context().get_start_method() == "fork"


@needs_ray
def test_local_workers_beside_a_running_ray_use_forkserver(local_ray, tmp_path):
    """A fork of this process, where Ray's threads run, may hang: the local pool starts its
    workers from a fork server instead, and gives what one process gives."""
    from textseq.text.engines import worker_context

    assert worker_context().get_start_method() == "forkserver"
    src = _corpus(tmp_path / "reviews.csv", 300)
    pipeline = Pipeline.default()
    one = preprocess_to_jsonl(pipeline, src, tmp_path / "one.jsonl", n_proc=1, progress=False, batch_size=32)
    two = preprocess_to_jsonl(pipeline, src, tmp_path / "two.jsonl", n_proc=2, progress=False, batch_size=32)
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert two.documents == one.documents == 300


@needs_ray
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_ray_reads_and_writes_shards_like_local(local_ray, tmp_path, fmt):
    """A directory of input shards in, a directory of output shards out: read back in name order,
    the records of the local engine's single file, in its order."""
    from textseq.text.shards import iter_records

    rows = list(csv.DictReader(_corpus(tmp_path / "reviews.csv", 400).open(encoding="utf-8")))
    (tmp_path / "in").mkdir()
    for k in range(0, 400, 90):  # 5 input shards of uneven size
        with open(tmp_path / "in" / f"part-{k // 90:02d}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows[k:k + 90])
    pipeline = Pipeline.default()
    local = _run("local", pipeline, tmp_path / "in", tmp_path / "local.jsonl", label_column="label")
    ray = _run("ray", pipeline, tmp_path / "in", f"{tmp_path}/ray/", label_column="label", fmt=fmt, shard_size=150,
               batch_size=32)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == [f"part-{k:05d}.{fmt}" for k in range(3)]
    expected = [json.loads(line) for line in (tmp_path / "local.jsonl").open(encoding="utf-8")]
    assert list(iter_records(f"{tmp_path}/ray/")) == expected and len(expected) == 400
    assert (ray.documents, ray.tokens, ray.skipped, ray.empty) == (local.documents, local.tokens, local.skipped, local.empty)


@needs_ray
def test_ray_reads_shards_in_its_tasks_with_the_local_ids_counts_and_errors(local_ray, tmp_path, monkeypatch,
                                                                           caplog):
    """Sharded JSONL with a malformed line and an empty document: the Ray engine reads each shard in
    a Ray task (the driver's shard reader is broken here, the workers' is not) and gives the local
    engine's records, ids, counts and strict-mode error."""
    import textseq.text.shards as shards

    folder = tmp_path / "in"
    folder.mkdir()
    texts = [f"the {i} cats ran past dogs" for i in range(30)]
    for k in range(3):
        lines = [json.dumps({"text": t, "label": i % 2}) for i, t in enumerate(texts[k * 10:(k + 1) * 10])]
        if k == 1:
            lines[3:3] = ['{"text": "no end', json.dumps({"text": "  ", "label": 0})]  # malformed, empty
        (folder / f"part-{k}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipeline = Pipeline.from_spec({"stages": [{"stage": "case"}, {"stage": "whitespace"}]})
    got = {}
    for engine in ("local", "ray"):
        if engine == "ray":
            def driver_must_not_read(*args, **kw):
                raise AssertionError("the driver read a shard")
            monkeypatch.setattr(shards, "read_shard", driver_must_not_read)
            caplog.set_level(logging.DEBUG, logger="textseq.text.ray_engine")
        out = tmp_path / f"{engine}.jsonl"
        s = _run(engine, pipeline, folder, out, label_column="label", errors="skip", batch_size=4)
        got[engine] = (s.documents, s.skipped, s.malformed, s.empty, out.read_bytes())
        with pytest.raises(InputError) as err:
            _run(engine, pipeline, folder, tmp_path / f"strict-{engine}.jsonl", label_column="label")
        got[engine] += (str(err.value),)
    assert got["ray"] == got["local"]
    assert got["ray"][:4] == (31, 1, 1, 1)
    records = [json.loads(line) for line in got["ray"][4].decode().splitlines()]
    assert [r["id"] for r in records[12:15]] == [f"{folder / 'part-1.jsonl'}:{n}" for n in (3, 5, 6)]
    assert records[-1]["id"] == f"{folder / 'part-2.jsonl'}:10"
    assert "part-1.jsonl:4: malformed JSON line" in got["ray"][5]
    assert "3 shard(s) read in" in caplog.text
