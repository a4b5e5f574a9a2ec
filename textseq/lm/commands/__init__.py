"""The language-modelling subcommands, one module each (see textseq.cli): train-lm, generate,
eval-lm, grad-probe and plot."""
