"""One error family: the CLI prints any of these as one line and exits non-zero."""

from __future__ import annotations


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
