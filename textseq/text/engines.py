"""Engines that run a pipeline over a stream of documents, chosen by name.

    "local"  worker processes on this machine (textseq.text.files.process_documents)
    "ray"    Ray Data on a local or existing Ray cluster (textseq.text.ray_engine), `pip install textseq[ray]`

Every engine has one interface: `engine.map(pipeline, docs, batch_size=, errors=, summary=)` yields
(document, result) in input order, raises InputError naming a document on which a stage fails (or,
with errors="skip", counts it in `summary.skipped`), and is used as a context manager so that what
it started (a process pool, a Ray instance) is stopped after it. `docs` is any iterable of
documents read by textseq's readers, under the caller's --errors policy; a sharded input comes as a
textseq.text.shards.ShardInput, which the local engine simply iterates and the Ray engine reads in
Ray tasks, one per shard, with the same shard reader: the counts cannot differ between them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

from textseq.registry import Registry

if TYPE_CHECKING:
    from textseq.text.files import ErrorPolicy, PreprocessSummary
    from textseq.text.pipeline import Pipeline

RAY_ADDRESS_ENV = "RAY_ADDRESS"


class Engine(Protocol):
    """Runs a pipeline over documents; see the module docstring."""

    name: str

    def __enter__(self) -> "Engine": ...

    def __exit__(self, *exc: Any) -> None: ...

    def map(self, pipeline: "Pipeline", docs: Iterable[Any], *, batch_size: int, errors: "ErrorPolicy",
            summary: "PreprocessSummary") -> Iterator[tuple[Any, Any]]: ...


EngineFactory = Callable[..., Engine]
ENGINES: Registry[EngineFactory] = Registry("preprocessing engine")


def make_engine(name: str, *, jobs: int | None = None, address: str | None = None) -> Engine:
    """The engine registered as `name`, for `jobs` workers (default: every core, or for Ray on an
    existing cluster, one actor per CPU of the cluster); `address` is a Ray cluster to join."""
    return ENGINES.get(name)(jobs=jobs, address=address)


class LocalEngine:
    """Worker processes on this machine (one process when jobs is 1)."""

    name = "local"

    def __init__(self, *, jobs: int | None = None, address: str | None = None) -> None:
        from textseq.text.files import default_jobs

        self.jobs = default_jobs() if jobs is None else jobs

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None  # each map() closes its own pool

    def map(self, pipeline: "Pipeline", docs: Iterable[Any], *, batch_size: int, errors: "ErrorPolicy",
            summary: "PreprocessSummary") -> Iterator[tuple[Any, Any]]:
        """Yield (document, result) in input order."""
        from textseq.text.files import process_documents

        return process_documents(pipeline, docs, batch_size=batch_size, n_proc=self.jobs, errors=errors,
                                 summary=summary)


@ENGINES.register("local")
def _local(*, jobs: int | None = None, address: str | None = None) -> Engine:
    return LocalEngine(jobs=jobs, address=address)


@ENGINES.register("ray")
def _ray(*, jobs: int | None = None, address: str | None = None) -> Engine:
    # imported only here: Ray is an optional extra, and `preprocess` stays light without it
    from textseq.text.ray_engine import RayEngine

    return RayEngine(jobs=jobs, address=address or os.environ.get(RAY_ADDRESS_ENV) or None)


def worker_context() -> Any:
    """The multiprocessing context of local workers: fork on Linux (a worker inherits the loaded
    pipeline modules and starts at once), except while Ray runs in this process, whose threads a fork
    would copy mid-lock (a worker can then hang forever): forkserver there, spawn off Linux."""
    import multiprocessing
    import sys

    ray = sys.modules.get("ray")
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork")


def add_engine_arguments(p: Any) -> None:
    """--engine and --ray-address, shared by every command that runs a pipeline over a corpus."""
    p.add_argument("--engine", choices=ENGINES.names(), default="local",
                   help="where the pipeline runs: local worker processes (local, the default) or Ray Data on a "
                        "local or existing Ray cluster (ray; needs `pip install textseq[ray]`)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help=f"with --engine ray: the Ray cluster to join, e.g. 10.0.0.1:6379 or auto (default: "
                        f"${RAY_ADDRESS_ENV}, else a local Ray with one CPU per worker)")
