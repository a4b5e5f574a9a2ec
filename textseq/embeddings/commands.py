"""`textseq embed train | eval | neighbors | convert`.

VECTORS is anything `load_vectors` reads: a textseq directory (vectors.npy + vocab.txt), a GloVe or
word2vec text file (.txt/.vec/.gz), a word2vec or fastText .bin, a .npy with a vocab beside it, or
the fetched resource name `glove-6b-50d`."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

HELP = "Train word embeddings, evaluate them on analogy/similarity benchmarks, query neighbours, convert formats."


def _add_source(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import positive_int

    p.add_argument("vectors", metavar="VECTORS", help="a vectors directory or file, or glove-6b-50d")
    p.add_argument("--in-format", dest="in_format", default="auto",
                   help="input format (default: auto): glove, word2vec, word2vec-binary, fasttext-bin, npy, textseq")
    p.add_argument("--max-words", type=positive_int, default=None, metavar="N",
                   help="read only the first N vectors (default: all)")
    p.add_argument("--errors", choices=("strict", "skip"), default="strict",
                   help="strict (the default): stop at the first malformed entry; skip: leave it out and count it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from textseq.cliargs import positive_int
    from textseq.text.engines import add_engine_arguments

    sub = parser.add_subparsers(dest="embed_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train GloVe / Word2Vec / FastText vectors from a config (configs/embed/*.yaml)")
    t.add_argument("-c", "--config", required=True, metavar="CONFIG",
                   help="a preset name such as glove (see `textseq configs list --kind embed`) or a YAML file")
    t.add_argument("-o", "--output", "--out", dest="output", required=True, metavar="DIR",
                   help="output directory (vectors.npy, vocab.txt, meta.json); --out is the older spelling")
    t.add_argument("--force", action="store_true", help="write into DIR even when it is not empty")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set glove.epochs=5 (repeatable)")
    t.add_argument("--eval", action="store_true", help="evaluate the trained vectors afterwards")
    add_engine_arguments(t)  # where the pipeline runs while the token file is written

    e = sub.add_parser("eval", help="analogy accuracy (questions-words) and Spearman rho (WordSim-353, SimLex-999)")
    _add_source(e)
    e.add_argument("--restrict-vocab", type=positive_int, default=300000, metavar="N",
                   help="analogy candidates and benchmark words: the N most frequent (first) words (default: 300000)")
    e.add_argument("--case-sensitive", action="store_true", help="do not fold case when matching benchmark words")
    e.add_argument("--json", action="store_true", help="print the result as JSON")

    n = sub.add_parser("neighbors", help="nearest neighbours of words, or solve A - B + C analogies")
    _add_source(n)
    n.add_argument("words", nargs="*", metavar="WORD", help="words to list neighbours of")
    n.add_argument("--topn", type=positive_int, default=10, metavar="N", help="neighbours to list (default: 10)")
    n.add_argument("--analogy", nargs=3, action="append", default=[], metavar=("A", "B", "C"),
                   help="A - B + C, e.g. --analogy king man woman (repeatable)")

    c = sub.add_parser("convert", help="write vectors in another format")
    _add_source(c)
    c.add_argument("out", metavar="OUT", help="output file (text formats; .gz compresses) or directory (textseq)")
    c.add_argument("--force", action="store_true", help="overwrite OUT (or write into a non-empty OUT directory)")
    c.add_argument("--format", "--to", dest="out_format", required=True,
                   choices=("glove", "word2vec", "word2vec-binary", "textseq"),
                   help="glove (text, no header), word2vec (text with header), word2vec-binary, textseq (directory)")


def run(args: argparse.Namespace) -> int:
    return {"train": _train, "eval": _eval, "neighbors": _neighbors, "convert": _convert}[args.embed_command](args)


def _load(args: argparse.Namespace):
    from textseq.embeddings.vectors import load_vectors

    vectors = load_vectors(args.vectors, format=args.in_format, max_words=args.max_words, errors=args.errors)
    skipped = vectors.meta.get("skipped") or {}
    if skipped:
        detail = ", ".join(f"{n:,} {k}" for k, n in skipped.items())
        log.warning(f"skipped {sum(skipped.values()):,} entries of {args.vectors} ({detail}); first: "
              f"{vectors.meta.get('skipped_examples', ['?'])[0]}")
    if vectors.duplicates:
        log.warning(f"{vectors.duplicates:,} duplicate words in {args.vectors}; the first occurrence of each is used")
    return vectors


def _train(args: argparse.Namespace) -> int:
    from textseq.config import load_config
    from textseq.errors import ResourceMissingError

    try:
        from textseq.embeddings.train import EmbedConfig, train_embeddings
    except ImportError as err:
        raise ResourceMissingError(f"embedding training is not available in this installation ({err})") from None
    from textseq.fileio import check_output_dir, input_paths

    config = load_config(EmbedConfig, args.config, args.overrides)
    check_output_dir(args.output, args.force, "output directory", input_paths(args.config, *config.corpus))
    result = train_embeddings(config, args.output, engine=args.engine, ray_address=args.ray_address)
    meta = getattr(result, "meta", {}) or {}
    log.info(f"wrote {args.output}: {meta.get('vocab_size', meta.get('count', '?'))} words x {meta.get('dim', '?')} ({config.method})")
    if args.eval:
        from textseq.embeddings.evaluate import evaluate_vectors, format_report
        from textseq.embeddings.vectors import load_vectors

        print(format_report(evaluate_vectors(load_vectors(args.output))))
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from textseq.embeddings.evaluate import evaluate_vectors, format_report

    result = evaluate_vectors(_load(args), restrict_vocab=args.restrict_vocab, lowercase=not args.case_sensitive)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0


def _neighbors(args: argparse.Namespace) -> int:
    from textseq.errors import ConfigError

    if not args.words and not args.analogy:
        raise ConfigError("give at least one WORD or --analogy A B C")
    vectors = _load(args)
    for word in args.words:
        how = "" if word in vectors else " (not in the vectors: " + ("lower-cased)" if word.lower() in vectors else "subword vector)")
        print(f"{word}{how}:")
        for w, s in vectors.most_similar(word, topn=args.topn):
            print(f"  {s:7.4f}  {w}")
    for a, b, c in args.analogy:
        print(f"{a} - {b} + {c}:")
        for w, s in vectors.analogy(a, b, c, topn=args.topn):
            print(f"  {s:7.4f}  {w}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from textseq.errors import InputError
    from textseq.fileio import atomic_path, check_output_dir, check_output_path, input_paths

    inputs = input_paths(args.vectors)  # checked before reading: an output over its input would destroy it
    if args.out_format == "textseq":
        check_output_dir(args.out, args.force, "output directory", inputs)
    else:
        check_output_path(args.out, args.force, "output", inputs)
    vectors = _load(args)
    if args.out_format == "textseq":
        try:
            out = vectors.save(args.out)
        except OSError as err:  # each file is written atomically; say which write failed, in one line
            raise InputError(f"cannot write {err.filename or args.out}: {err.strerror or err}") from None
    else:
        with atomic_path(args.out) as tmp:  # complete or not there at all
            vectors.save_text(tmp, format=args.out_format)
        out = args.out
    log.info(f"wrote {out}: {len(vectors):,} words x {vectors.dim} ({args.out_format})")
    return 0
