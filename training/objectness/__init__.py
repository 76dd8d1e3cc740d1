"""Stage-1 runs (the objectness and existence networks): config and flags, tasks, trainer, validation,
evaluation, figures."""
