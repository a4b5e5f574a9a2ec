"""`textseq grad-probe`: ||dL_T/dh_t|| through one window, for a trained LM or fresh cells, as a PNG."""

from __future__ import annotations

import argparse

HELP = "measure how the gradient of the last step's loss fades back through time, and plot it (log scale)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import non_negative_int, number, positive_int

    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a trained LM run (or use --cell for fresh models)")
    p.add_argument("--cell", action="append", default=[], metavar="NAME",
                   help="probe a freshly initialised model with this cell (rnn, gru, lstm, ...); repeat to compare")
    p.add_argument("-o", "--output", required=True, metavar="PNG", help="the figure to write (.png; .pdf and .svg work too)")
    p.add_argument("--force", action="store_true", help="overwrite PNG if it exists")
    p.add_argument("--length", type=number(int, low=2), default=100, help="window length T (default: 100)")
    p.add_argument("-i", "--input", default=None,
                   help="text to probe on (file or CORPUS:SPLIT); default: RUN_DIR's validation data, else random ids")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows averaged over (default: 8)")
    p.add_argument("--hidden-size", type=positive_int, default=128, help="fresh models only (default: 128)")
    p.add_argument("--init", choices=["torch", "textseq"], default="torch",
                   help="fresh models: PyTorch's uniform init (default; the textbook vanishing RNN) or textseq's "
                        "orthogonal init (RecurrentLM's own, under which a fresh RNN keeps its gradient too)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the windows and fresh models (default: 0)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from textseq.errors import ConfigError
    from textseq.fileio import check_output_path, input_paths
    from textseq.lm import probe

    if bool(args.run_dir) == bool(args.cell):
        raise ConfigError("give either RUN_DIR or one or more --cell NAME")
    check_output_path(args.output, args.force, "output", input_paths(args.input))
    curves: dict[str, list[float]] = {}
    if args.run_dir:
        from textseq.runs import load_run

        loaded = load_run(args.run_dir, args.checkpoint, task="lm")
        tokens = _tokens(args.input, loaded.codec, Path(args.run_dir))
        windows = probe.probe_windows(tokens, loaded.codec.size, args.length, args.batch_size, args.seed)
        curves[f"{loaded.model.config.cell} ({loaded.path.name})"] = probe.gradient_probe(loaded.model, windows)
        title = f"trained {loaded.model.config.cell}, {args.run_dir}"
    else:
        codec = _probe_codec(args.input)
        tokens = codec.encode_array(_text(args.input)) if codec is not None else None
        vocab = codec.size if codec is not None else 64
        windows = probe.probe_windows(tokens, vocab, args.length, args.batch_size, args.seed)
        for cell in args.cell:
            model = probe.fresh_model(cell, vocab, hidden_size=args.hidden_size, seed=args.seed, init=args.init)
            curves[cell] = probe.gradient_probe(model, windows)
        title = f"fresh cells ({args.init} init, hidden {args.hidden_size}), " + ("random ids" if codec is None else args.input)
    for label, norms in curves.items():
        print(f"{label}: ||dL/dh_0|| / ||dL/dh_{len(norms) - 1}|| = {probe.ratio(norms):.3e}")
    print(probe.plot_probe(curves, args.output, title))
    return 0


def _text(source: str, limit: int = 200_000) -> str:
    from textseq.lm.prepare import TextCounter

    parts, size = [], 0
    for text in TextCounter(source):
        parts.append(text + "\n")
        size += len(text) + 1
        if size >= limit:
            break
    return "".join(parts)


def _probe_codec(source: str | None):  # type: ignore[no-untyped-def]
    if source is None:
        return None
    from textseq.codecs import CharCodec

    return CharCodec.build([_text(source)])


def _tokens(source: str | None, codec, run_dir):  # type: ignore[no-untyped-def]
    if source is not None:
        return codec.encode_array(_text(source))
    from textseq.data.encode import EncodedCorpus

    valid = run_dir / "data" / "valid.bin"
    return EncodedCorpus.open(valid).tokens[:200_000] if valid.is_file() else None
