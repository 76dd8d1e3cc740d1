"""Command-line tools of the detector (run as scripts from the repository root)."""
