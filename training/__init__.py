"""Stage-1 training: argument parsing, the training loop, checkpoints, logging, plots and evaluation."""
