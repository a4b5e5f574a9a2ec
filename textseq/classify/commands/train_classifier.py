"""`textseq train-classifier`: prepare labelled data and train a text classifier into a run directory."""

from textseq.train.job import train_command

HELP, add_arguments, run = train_command(
    "classify", "train an LSTM/GRU (or bag-of-embeddings) text classifier from a config (preset name or YAML)",
    "imdb_gru", "train.max_epochs=1", "raise train.max_steps/max_epochs to extend")
