"""The one way a pipeline reference in a config or an API call becomes a Pipeline.

    Pipeline object        -> itself
    {stages: [...]} / [..] -> an inline spec
    "sentiment"            -> the shipped `preprocess` preset of that name (textseq.presets)
    "my/pipeline.yaml"     -> that file (YAML or JSON)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textseq.config import read_config
from textseq.errors import ConfigError
from textseq.text.pipeline import Pipeline

PipelineRef = Pipeline | dict[str, Any] | list[Any] | str | Path


def resolve_pipeline(ref: PipelineRef, where: str | None = None, tokens: bool = False) -> Pipeline:
    """A Pipeline from any PipelineRef. `where` (the config key, e.g. data.pipeline) names the spec in
    errors and prefixes a missing file or preset; errors inside a file name the file. With `tokens`,
    the pipeline must have a tokenizer stage."""
    key = where or "pipeline"
    if isinstance(ref, Pipeline):
        pipeline = ref
    elif isinstance(ref, (dict, list)):
        pipeline = Pipeline.from_spec(ref, where=key)
    elif isinstance(ref, (str, Path)):
        try:
            data, source = read_config(ref, kind="preprocess")  # YAML is a superset of JSON
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}" if where else str(err)) from None
        pipeline = Pipeline.from_spec(data, where=source)
    else:
        raise ConfigError(f"{key}: expected a preset name, a file path or an inline spec, got {type(ref).__name__}")
    if tokens and pipeline.tokenizer is None:
        raise ConfigError(f"{key}: the pipeline has no tokenizer stage; tokens are needed here (e.g. spacy_words)")
    return pipeline
