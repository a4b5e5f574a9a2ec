"""`textseq ensemble RUN RUN ... -o RUN`: combine trained classifiers into one run that predicts like any other."""

from __future__ import annotations

import argparse

HELP = ("combine trained classifier runs into an ensemble run (weights fitted on a validation split); "
        "predict and eval-classifier serve it")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (or checkpoints) of trained classifiers, two or more")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="the ensemble's run directory")
    p.add_argument("--weights", default="fit", choices=["fit", "equal"],
                   help="fit: logistic regression on the members' validation log-odds (two classes); equal: the "
                        "geometric mean of their probabilities (default: fit)")
    p.add_argument("--valid", default=None, metavar="SOURCE",
                   help="labelled data to fit the weights on (default: the first member's data.valid)")
    p.add_argument("--device", default="cpu", help="where the members run (default: cpu)")
    p.add_argument("--force", action="store_true", help="overwrite RUN_DIR if it holds a run")


def run(args: argparse.Namespace) -> int:
    import json

    from textseq.classify.ensemble import EnsembleJobConfig, EnsembleTask
    from textseq.config import validate
    from textseq.train.job import run_job

    data = {"members": [{"run": r} for r in args.runs], "weights": args.weights, "valid": args.valid,
            "train": {"device": args.device}}
    config = validate(EnsembleJobConfig, data, where="textseq ensemble")
    job = run_job(EnsembleTask(), config, args.output, force=args.force)
    print(json.dumps({"run_dir": str(job.run_dir), "valid_accuracy": job.report["valid"]["accuracy"],
                      "weights": job.report["weights"], "member_valid_accuracy": job.report["member_valid_accuracy"]}))
    return 0
