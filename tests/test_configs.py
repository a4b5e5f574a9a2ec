"""Every preset shipped under configs/ validates against its schema, names are unique, and presets,
files and old-style paths all resolve (textseq.presets, textseq.text.resolve, `textseq configs`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from textseq import presets
from textseq.cli import main
from textseq.errors import ConfigError
from textseq.lm.config import load_job_config
from textseq.text.pipeline import Pipeline
from textseq.text.resolve import resolve_pipeline

ROOT = Path(__file__).resolve().parents[1]


def _names(kind: str) -> list[str]:
    return [p.name for p in presets.scan() if p.kind == kind]


# ----------------------------------------------------------------------------- every preset validates
@pytest.mark.parametrize("name", _names("preprocess"))
def test_preprocess_presets_validate_and_round_trip(name):
    pipeline = Pipeline.load(name)
    assert Pipeline.from_spec(pipeline.spec()) == pipeline
    assert pipeline("Some text.") is not None


@pytest.mark.parametrize("name", _names("lm"))
def test_lm_presets_validate(name):
    from textseq.text.resolve import resolve_pipeline

    config = load_job_config(name)
    assert config.lm_config(vocab_size=100).vocab_size == 100
    assert config.train.seed == config.seed
    if config.data.level == "word":
        assert resolve_pipeline(config.data.word.pipeline, tokens=True).tokenizer is not None


@pytest.mark.parametrize("name", _names("sentiment"))
def test_sentiment_presets_validate(name):
    from textseq.classify.config import load_job_config as load_classify_config
    from textseq.classify.ensemble import EnsembleTask, is_ensemble_config
    from textseq.classify.ngram_task import NgramTask, is_ngram_config
    from textseq.config import read_config
    from textseq.text.resolve import resolve_pipeline

    if is_ensemble_config(read_config(name, "sentiment")[0]):  # members are presets of their own, validated here too
        for member in EnsembleTask().load_config(name).members:
            assert member.config in _names("sentiment") or member.run is not None
        return
    if is_ngram_config(read_config(name, "sentiment")[0]):  # the n-gram model has its own config (NgramJobConfig)
        config = NgramTask().load_config(name)
        assert config.model.kind == "ngram" and config.model.C
        assert resolve_pipeline(config.data.pipeline, tokens=True).tokenizer is not None
        return
    config = load_classify_config(name)
    assert config.classifier_config(vocab_size=100, num_classes=2, class_weights=None, pad_id=0).vocab_size == 100
    assert config.train.seed == config.seed
    if config.transfer.lm_run is None:
        assert resolve_pipeline(config.data.pipeline, tokens=True).tokenizer is not None


@pytest.mark.parametrize("name", _names("embed"))
def test_embed_presets_validate(name):
    from textseq.config import StrictModel
    from textseq.embeddings.train import _pipeline, load_embed_config

    cfg = load_embed_config(name)
    assert isinstance(cfg.method_config(), StrictModel)
    assert cfg.method == name
    assert _pipeline(cfg).tokenizer is not None  # the pipeline it names exists and validates


def test_the_documented_presets_exist():
    assert {"char_lstm", "char_gru", "subword_lstm", "word_lstm"} <= set(_names("lm"))
    assert {"imdb_bilstm_glove", "imdb_gru", "rt_bilstm", "imdb_lm_transfer", "bag_of_embeddings"} <= set(_names("sentiment"))
    assert {"default", "sentiment", "embeddings"} <= set(_names("preprocess"))
    assert {"glove", "word2vec", "fasttext"} <= set(_names("embed"))


# ----------------------------------------------------------------------------- the preset table
def test_preset_names_are_unique_across_folders():
    found = [p.name for p in presets.scan()]
    duplicates = sorted({n for n in found if found.count(n) > 1})
    assert not duplicates, f"preset names used twice (a bare -c NAME would be ambiguous): {duplicates}"
    assert len(presets.presets()) == len(found)


def test_every_yaml_under_configs_is_a_preset():
    on_disk = sorted(str(p.relative_to(ROOT / "configs")) for p in (ROOT / "configs").rglob("*") if p.is_file())
    assert on_disk == sorted(p.relpath for p in presets.scan()), "configs/ holds a file outside the preset folders"


def test_package_configs_is_the_top_level_folder():
    """One copy in git: textseq/configs is a link to configs/, which the wheel build follows."""
    link = ROOT / "textseq" / "configs"
    assert link.is_symlink() and link.resolve() == (ROOT / "configs").resolve()
    char_lstm = presets.get("char_lstm")
    assert char_lstm.text() == (ROOT / "configs" / "lm" / "char_lstm.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("preset", presets.scan(), ids=lambda p: p.name)
def test_every_preset_has_a_one_line_description(preset):
    first = preset.text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 20, f"configs/{preset.relpath} starts without a description comment"
    assert preset.description() == first[2:].strip()


# ----------------------------------------------------------------------------- resolving references
def test_a_name_a_file_and_an_old_style_path_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name = load_job_config("char_lstm")
    assert load_job_config("configs/lm/char_lstm.yaml") == by_name  # older docs' path, not present here
    mine = tmp_path / "mine.yaml"
    mine.write_text(presets.get("char_lstm").text().replace("hidden_size: 256", "hidden_size: 48"), encoding="utf-8")
    assert load_job_config(str(mine)).model.hidden_size == 48 != by_name.model.hidden_size
    (tmp_path / "char_lstm").mkdir()  # a run directory named like the preset does not shadow it
    assert load_job_config("char_lstm") == by_name


def test_an_existing_file_wins_over_the_preset_of_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "configs" / "lm" / "char_lstm.yaml"
    local.parent.mkdir(parents=True)
    local.write_text(presets.get("char_lstm").text().replace("hidden_size: 256", "hidden_size: 40"), encoding="utf-8")
    assert load_job_config("configs/lm/char_lstm.yaml").model.hidden_size == 40


@pytest.mark.parametrize("ref, message", [
    ("char_lstn", "unknown lm preset 'char_lstn' (did you mean 'char_lstm'?); valid: char_gru, char_lstm,"),
    ("imdb_gru", "preset 'imdb_gru' is a sentiment config (configs/sentiment/imdb_gru.yaml); expected one of the lm"),
    ("nowhere/char_lstm.yaml", "config file not found: nowhere/char_lstm.yaml"),
    ("configs/lm/nope.yaml", "config file not found: configs/lm/nope.yaml"),
])
def test_bad_references_name_the_valid_presets(ref, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_job_config(ref)
    assert message in str(err.value)
    assert "char_lstm" in str(err.value)  # the valid names are listed


def test_every_job_loader_takes_preset_names():
    from textseq.classify.config import load_job_config as load_classify_config
    from textseq.embeddings.train import load_embed_config

    assert load_classify_config("imdb_gru", ["train.max_epochs=2"]).train.max_epochs == 2
    assert load_embed_config("word2vec").method == "word2vec"
    with pytest.raises(ConfigError, match="expected one of the embed presets"):
        load_embed_config("char_lstm")
    with pytest.raises(ConfigError, match=r"^--set train.lrr=1: train.lrr: unknown key; did you mean --set train.optimizer.lr=1\?"):
        load_job_config("char_lstm", ["train.lrr=1"])


def test_resolve_pipeline_takes_objects_specs_names_and_files(tmp_path):
    sentiment = Pipeline.load("sentiment")
    assert resolve_pipeline(sentiment) is sentiment
    assert resolve_pipeline(sentiment.spec()) == sentiment
    assert resolve_pipeline(sentiment.spec()["stages"]) == Pipeline.from_spec({"stages": sentiment.spec()["stages"]})
    assert resolve_pipeline("configs/preprocess/sentiment.yaml") == sentiment
    path = sentiment.save(tmp_path / "p.json")
    assert resolve_pipeline(path) == resolve_pipeline(str(path)) == sentiment
    assert Pipeline.default() == resolve_pipeline("default")


@pytest.mark.parametrize("ref, message", [
    ("sentimnt", "data.pipeline: unknown preprocess preset 'sentimnt' (did you mean 'sentiment'?)"),
    ("imdb_gru", "data.pipeline: preset 'imdb_gru' is a sentiment config"),
    ("missing.yaml", "data.pipeline: config file not found: missing.yaml"),
    ({"stages": [{"stage": "lowercas"}]}, "data.pipeline: stages[0]"),
    ({"stages": [{"stage": "case"}]}, "data.pipeline: the pipeline has no tokenizer stage"),
    (3, "data.pipeline: expected a preset name, a file path or an inline spec, got int"),
])
def test_resolve_pipeline_errors_name_the_key(ref, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        resolve_pipeline(ref, where="data.pipeline", tokens=True)
    assert message in str(err.value)


def test_errors_inside_a_pipeline_file_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {stage: spacy_words, colour: red}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{bad}: stages\\[0\\]"):
        resolve_pipeline(str(bad), where="data.pipeline")


# ----------------------------------------------------------------------------- textseq configs
def test_configs_list_prints_one_line_per_preset(capsys):
    assert main(["configs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(presets.presets())
    for line, preset in zip(lines, presets.scan()):
        name, kind, description = line.split(maxsplit=2)
        assert (name, kind, description) == (preset.name, preset.kind, preset.description())
    assert main(["configs", "list", "--kind", "embed"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["fasttext", "glove", "word2vec"]


def test_configs_show_prints_the_yaml_verbatim(capsys):
    assert main(["configs", "show", "imdb_gru"]) == 0
    assert capsys.readouterr().out == (ROOT / "configs" / "sentiment" / "imdb_gru.yaml").read_text(encoding="utf-8")
    assert main(["configs", "show", "imdb_gr"]) == 2
    assert "did you mean 'imdb_gru'?" in capsys.readouterr().err


def test_configs_command_does_not_import_torch():
    script = ("import sys, argparse; from textseq import configs_command as c\n"
              "c.run(argparse.Namespace(configs_command='list', kind=None))\n"
              "c.run(argparse.Namespace(configs_command='show', name='char_lstm'))\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert "char_lstm" in result.stdout


@pytest.mark.parametrize("module, preset", [("textseq.lm.config", "char_lstm"), ("textseq.classify.config", "imdb_gru")])
def test_train_seed_follows_the_top_level_seed(module, preset):
    import importlib

    load = importlib.import_module(module).load_job_config
    assert load(preset, ["seed=7"]).train.seed == 7
    assert load(preset, ["seed=7", "train.seed=7"]).train.seed == 7
    with pytest.raises(ConfigError, match=r"train.seed \(3\) differs from seed \(7\)"):
        load(preset, ["seed=7", "train.seed=3"])
