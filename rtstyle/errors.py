"""One error family: the CLI prints any of these as one line and exits non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable


class RtstyleError(Exception):
    """Base of every error rtstyle raises on purpose."""

    exit_code = 1


class InputError(RtstyleError):
    """The input file or camera is missing, unreadable, empty or corrupt."""

    exit_code = 2


class OutputError(RtstyleError):
    """The output cannot be written where it was asked for."""

    exit_code = 3


class StyleNotFoundError(RtstyleError):
    """No installed style has that name and no model file has that path."""

    exit_code = 4


class ModelError(RtstyleError):
    """A model file breaks the model contract (``rtstyle.models.check_contract``) or cannot be loaded."""

    exit_code = 4


class ProviderError(RtstyleError):
    """An execution provider that was asked for cannot run here."""

    exit_code = 5


def first_line(exc: BaseException) -> str:
    """``Class: first line of the message`` (blank lines skipped), for wrapping a library's error in one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{exc.__class__.__name__}: {lines[0]}" if lines else exc.__class__.__name__


def reporting_errors(command: Callable[[], int]) -> int:
    """Run a command; an :class:`RtstyleError` or Ctrl-C becomes one line on stderr and its exit code.

    For the entry points (``rtstyle``, ``python -m rtstyle.training.optimize``) only, never the library.
    """
    try:
        return command()
    except RtstyleError as exc:
        print(f"rtstyle: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rtstyle: interrupted", file=sys.stderr)
        return 130
