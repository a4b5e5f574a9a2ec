"""`textseq configs list | show NAME`: the presets shipped in the package (textseq.presets).

    textseq configs list                      name, kind and description of each preset
    textseq configs show char_lstm > my.yaml  its YAML, verbatim, to copy and edit
    textseq train-lm -c my.yaml -o runs/mine

Neither action imports torch."""

from __future__ import annotations

import argparse
import sys

HELP = "List the shipped config presets (-c NAME), or print one to copy and edit."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from textseq.presets import KINDS

    sub = parser.add_subparsers(dest="configs_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every preset: name, kind (lm, sentiment, preprocess, embed) and description")
    ls.add_argument("--kind", choices=KINDS, help="only presets of this kind")
    show = sub.add_parser("show", help="print a preset's YAML to stdout, verbatim")
    show.add_argument("name", metavar="NAME", help="a preset name, e.g. char_lstm (see `textseq configs list`)")


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "show": _show}[args.configs_command](args)


def _list(args: argparse.Namespace) -> int:
    from textseq.presets import scan

    found = [p for p in scan() if args.kind in (None, p.kind)]
    width = max((len(p.name) for p in found), default=0)
    for preset in found:
        print(f"{preset.name:<{width}}  {preset.kind:<10}  {preset.description()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from textseq.presets import get

    sys.stdout.write(get(args.name).text())
    return 0
