"""Error handling of every command-line script: bad input ends in one `error: ...` line, no traceback.

Every script ends with `run_cli(main)`. A script whose `main(argv)` is also called in-process (tests, other
scripts) and reports bad input through its exit status decorates it with `reports_errors(...)`. Code that
finds a problem itself raises `CliError`; `input_errors(...)` turns the errors of one block into `CliError`s.
See docs/DEVELOPING.md ("Scripts: errors and sys.path").
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

from utils.io import DataError
from utils.logging_utils import setup_logging

INPUT_ERRORS: tuple[type[BaseException], ...] = (DataError, FileNotFoundError, ValueError)
INTERRUPTED_EXIT_CODE = 130  # the shell's status for a process stopped by Ctrl-C (128 + SIGINT)

F = TypeVar("F", bound=Callable[..., object])


class CliError(Exception):
    """A problem a script reports as `error: <message>` with exit status `code` (e.g. an existing output)."""

    def __init__(self, message: object, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _message(error: BaseException | str) -> object:
    """The message of an error; a KeyError's without the quotes `str(KeyError)` adds."""
    return error.args[0] if isinstance(error, KeyError) and error.args else error


def error_line(error: BaseException | str) -> str:
    """`error: <message>`."""
    return f"error: {_message(error)}"


def print_error(error: BaseException | str) -> None:
    """Print `error_line(error)` to stderr."""
    print(error_line(error), file=sys.stderr)


@contextmanager
def input_errors(*errors: type[BaseException], code: int = 2) -> Iterator[None]:
    """Inside the block, the given exception types become `CliError(message, code)`."""
    try:
        yield
    except errors as e:
        raise CliError(_message(e), code) from None


def reports_errors(
    *errors: type[BaseException], code: int = 2, exit_on_error: bool = False
) -> Callable[[F], F]:
    """Decorator of a script's `main(argv)`: a `CliError`, or one of `errors` (status `code`), prints one
    `error: ...` line, then `main` returns the status (raises `SystemExit(status)` with `exit_on_error`).

    Other exceptions keep their traceback: `run_cli` adds no error handling around such a `main`.
    """

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def wrapper(*args: object, **kwargs: object) -> object:
            try:
                return main(*args, **kwargs)
            except CliError as e:
                print_error(e)
                status = e.code
            except errors as e:
                print_error(e)
                status = code
            if exit_on_error:
                raise SystemExit(status)
            return status

        wrapper.reports_errors = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def run_cli(
    main: Callable[[], object], exit_code: int = 2, errors: tuple[type[BaseException], ...] = INPUT_ERRORS
) -> NoReturn:
    """Run a script's `main()` and exit with its status (its int return value, else 0).

    Unless `main` is decorated with `reports_errors`, a `CliError` or one of `errors` prints one
    `error: ...` line and exits with `exit_code` (a CliError with its own code). Ctrl-C prints
    `error: interrupted` and exits with status 130. Logging is set up first (`setup_logging`).
    """
    setup_logging()
    if not getattr(main, "reports_errors", False):
        main = reports_errors(*errors, code=exit_code, exit_on_error=True)(main)
    try:
        status = main()
    except KeyboardInterrupt:
        print_error("interrupted")
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    raise SystemExit(status if isinstance(status, int) else 0)
