"""R-MONet / MONet runs: configs, training loop, checkpoints, schedule, metrics, evaluation, figures."""
