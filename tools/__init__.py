"""Command-line tools: data preparation, checks and reports (run by path: `python tools/<name>.py`)."""
