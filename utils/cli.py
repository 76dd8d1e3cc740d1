"""Entry-point wrapper for the command-line scripts: bad input ends in one `error: ...` line, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from utils.io import DataError


def run_cli(main: Callable[[], object], exit_code: int = 2) -> None:
    """Call `main()`; a DataError, missing file or invalid value prints `error: <message>` and exits."""
    try:
        main()
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(exit_code) from None
