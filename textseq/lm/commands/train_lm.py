"""`textseq train-lm`: prepare the data and train a language model into a run directory."""

from textseq.train.job import train_command

HELP, add_arguments, run = train_command(
    "lm", "train a character/subword/word LSTM or GRU language model from a config (preset name or YAML)",
    "char_lstm", "train.max_minutes=1", "raise train.max_steps to extend")
