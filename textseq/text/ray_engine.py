"""The Ray engine: a pipeline run as Ray Data `map_batches` over an actor pool.

Each actor builds the pipeline once from its spec (spaCy and every other resource load once per
actor, not per batch). A sharded input (a directory or glob of .jsonl/.parquet files) is read in
Ray tasks, one per shard (textseq.text.ray_read); any other input is read by the driver and shipped
to the object store in Arrow blocks. Either way textseq's own readers read it, so undecodable or
malformed input meets the same --errors policy and the same counts as under the local engine.
Results come back in input order (Ray Data's preserve_order) and the driver writes them as the local
engine does, shards included: Ray Data's writers name their files by task, not by record order.

Ray is an optional extra (`pip install textseq[ray]`) and is imported only when this engine is used.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from textseq.errors import ConfigError, InputError, ResourceMissingError, one_line

if TYPE_CHECKING:
    from textseq.text.files import ErrorPolicy, PreprocessSummary
    from textseq.text.pipeline import Pipeline

log = logging.getLogger(__name__)

INSTALL_HINT = "--engine ray needs Ray Data, which is not installed: pip install 'textseq[ray]'"
BLOCK_BATCHES = 8  # pipeline batches per Arrow block shipped to the cluster


def import_ray() -> Any:
    """The ray module with Ray Data, or ResourceMissingError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data]; plain ray lacks pyarrow/pandas)
    except ImportError:
        raise ResourceMissingError(INSTALL_HINT) from None
    return ray


class RayEngine:
    """Ray Data over an actor pool: joins the cluster at `address`, else starts a local Ray with
    `jobs` CPUs (and stops it again on exit); a Ray already initialized in this process is used as is."""

    name = "ray"

    def __init__(self, *, jobs: int | None = None, address: str | None = None) -> None:
        self.jobs = jobs
        self.address = address
        self.actors = 1
        self.startup_seconds = 0.0
        self._started = False
        self._ray: Any = None

    def __enter__(self) -> "RayEngine":
        ray = self._ray = import_ray()
        t0 = time.perf_counter()
        if not ray.is_initialized():
            self._init(ray)
            self._started = True
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        self.actors = max(1, self.jobs if self.jobs is not None else cluster_cpus)
        self.startup_seconds = time.perf_counter() - t0
        log.debug(f"ray: {self.actors} actor(s) on a cluster of {cluster_cpus} CPU(s), "
                  f"ready in {self.startup_seconds:.1f} s")
        return self

    def _init(self, ray: Any) -> None:
        from textseq.text.files import default_jobs

        quiet = log.getEffectiveLevel() > logging.DEBUG
        # Ray's start-up notes (token authentication, deprecations, disabled progress bars) are not
        # the user's business unless they asked for -v
        options: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.INFO,
                                   "log_to_driver": not quiet}
        if self.address:
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, **options)
            except Exception as err:  # ConnectionError, or a version mismatch with the cluster
                raise ConfigError(f"--ray-address {self.address}: cannot join the Ray cluster: "
                                  f"{one_line(err)}") from None
        else:
            ray.init(num_cpus=self.jobs or default_jobs(), include_dashboard=False, **options)
        if quiet:  # Ray Data reports every execution plan at INFO
            logging.getLogger("ray.data").setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def map(self, pipeline: "Pipeline", docs: Iterable[Any], *, batch_size: int, errors: "ErrorPolicy",
            summary: "PreprocessSummary") -> Iterator[tuple[Any, Any]]:
        """Yield (document, result) in input order; see textseq.text.engines."""
        import ray.data

        from textseq.text.ray_read import read_dataset, settle
        from textseq.text.shards import ShardInput

        block_rows = batch_size * BLOCK_BATCHES
        ctx = ray.data.DataContext.get_current()
        saved = ctx.execution_options.preserve_order, ctx.enable_progress_bars
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False  # the caller has its own bar
        try:
            if isinstance(docs, ShardInput):  # read in Ray tasks, one per shard (textseq.text.ray_read)
                source, pool_size = read_dataset(docs, block_rows, self.actors), self.actors
            else:  # read here, shipped to the object store
                refs = _ship(docs, block_rows)
                if not refs:
                    return
                # no more actors than blocks: an idle actor would load spaCy for nothing
                source, pool_size = ray.data.from_arrow_refs(refs), min(self.actors, len(refs))
            ds = source.map_batches(
                PipelineActor, fn_constructor_kwargs={"spec": pipeline.spec()}, batch_size=batch_size,
                batch_format="pyarrow", zero_copy_batch=True, compute=ray.data.ActorPoolStrategy(size=pool_size),
                num_cpus=1)
            last = -1
            readers: set[int] = set()
            for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for index, doc, result, error, meta in _rows(block, pipeline.produces):
                    if index <= last:  # preserve_order is what makes the output comparable
                        raise RuntimeError(f"ray returned row {index} after row {last}")
                    last = index
                    if meta is not None:  # a shard's end: its read counts, and what stopped it
                        settle(meta, docs.stats, readers)  # type: ignore[union-attr]
                        continue
                    if error is not None:
                        if errors != "skip":
                            raise InputError(f"{doc.id}: preprocessing failed: {error}")
                        summary.skipped += 1
                        continue
                    yield doc, result
            if isinstance(docs, ShardInput):
                log.debug(f"ray: {len(docs.files)} shard(s) read in {len(readers)} Ray worker process(es)")
        finally:
            ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved


def _check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that refuses connections is a one-line error now: Ray itself
    retries an unreachable cluster for minutes before it gives up."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # "auto", or a form Ray resolves itself
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers there ({err.strerror or err}); "
                          f"start one with `ray start --head`, or leave the address out for a local Ray") from None


def _ship(docs: Iterable[Any], block_size: int) -> list[Any]:
    """Put the documents into the object store as Arrow blocks of `block_size` rows (index, id,
    label as JSON, text); the driver keeps only the references."""
    import pyarrow as pa
    import ray

    refs: list[Any] = []
    rows: list[Any] = []

    def flush() -> None:
        start = len(refs) * block_size
        table = pa.table({
            "i": pa.array(range(start, start + len(rows)), pa.int64()),
            "id": [d.id for d in rows],
            "label": [None if d.label is None else json.dumps(d.label, ensure_ascii=False) for d in rows],
            "text": [d.text for d in rows],
        }, schema=pa.schema([("i", pa.int64()), ("id", pa.string()), ("label", pa.string()),
                             ("text", pa.string())]))
        refs.append(ray.put(table))
        rows.clear()

    for doc in docs:
        rows.append(doc)
        if len(rows) >= block_size:
            flush()
    if rows:
        flush()
    return refs


def _rows(block: Any, produces: str) -> Iterator[tuple[int, Any, Any, str | None, str | None]]:
    """(index, Document, result, error, shard trailer) for each row of a result block."""
    from textseq.corpora.readers import Document
    from textseq.text.base import tokens_from

    cols = {name: block.column(name).to_pylist() for name in block.column_names}
    labels = [None if x is None else json.loads(x) for x in cols["label"]]
    docs = map(Document, cols["text"], cols["id"], labels)
    if produces == "text":
        results: Iterable[Any] = cols["out_text"]
    else:
        results = (None if t is None else tokens_from(t, s, e)
                   for t, s, e in zip(cols["tokens"], cols["starts"], cols["ends"]))
    return zip(cols["i"], docs, results, cols["error"], cols.get("meta", itertools.repeat(None)))


class PipelineActor:
    """One Ray actor: builds the pipeline from its spec once, then runs batch after batch."""

    def __init__(self, spec: dict[str, Any]) -> None:
        _hide_torch()
        from textseq.text.pipeline import Pipeline

        self.pipeline = Pipeline.from_spec(spec)
        self.pipeline.run_batch(["Load every resource now."])
        gc.freeze()  # what is loaded now lives as long as the actor: keep it out of every collection

    def __call__(self, batch: Any) -> Any:
        """An Arrow batch with a `text` column -> the same batch plus the result columns and `error`."""
        texts = batch.column("text").to_pylist()
        live = [j for j, t in enumerate(texts) if t is not None]  # a row without text ends a shard
        todo = [texts[j] for j in live]
        try:
            done: list[Any] = self.pipeline.run_batch(todo) if todo else []
            failed: list[str | None] = [None] * len(todo)
        except Exception:  # a stage failed somewhere in this batch: find the document(s)
            done, failed = self._one_by_one(todo)
        results: list[Any] = [None] * len(texts)
        failures: list[str | None] = [None] * len(texts)
        for j, result, failure in zip(live, done, failed):
            results[j], failures[j] = result, failure
        return _append_results(batch, results, failures, self.pipeline.produces)

    def _one_by_one(self, texts: list[str]) -> tuple[list[Any], list[str | None]]:
        results: list[Any] = []
        failures: list[str | None] = []
        for text in texts:
            try:
                results.append(self.pipeline.run_batch([text])[0])
                failures.append(None)
            except Exception as err:
                results.append(None)
                failures.append(f"{type(err).__name__}: {err}")
        return results, failures


def _append_results(batch: Any, results: list[Any], failures: list[str | None], produces: str) -> Any:
    import pyarrow as pa

    batch = batch.append_column("error", pa.array(failures, pa.string()))
    if produces == "text":
        return batch.append_column("out_text", pa.array(results, pa.string()))
    texts, starts, ends = [], [], []
    for toks in results:
        if toks is None:
            texts.append(None), starts.append(None), ends.append(None)
            continue
        t, s, e = zip(*toks) if toks else ((), (), ())
        texts.append(t), starts.append(s), ends.append(e)
    batch = batch.append_column("tokens", pa.array(texts, pa.list_(pa.string())))
    batch = batch.append_column("starts", pa.array(starts, pa.list_(pa.int64())))
    return batch.append_column("ends", pa.array(ends, pa.list_(pa.int64())))


def _hide_torch() -> None:
    """An actor process only preprocesses: spaCy's thinc would import torch (seconds) just to probe
    for GPUs, so make that import fail here (see textseq.text.commands._torch_hidden)."""
    if "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]
