"""API errors: every failure is JSON ``{"error": "<one line>"}`` with a status that says whose fault."""

from __future__ import annotations

from rtstyle.errors import InputError, OutputError, ProviderError, RtstyleError, StyleNotFoundError


class ApiError(RtstyleError):
    """An error with its HTTP status (and headers, such as ``Retry-After``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class TooLarge(ApiError):
    def __init__(self, message: str):
        super().__init__(413, message)


class Unsupported(ApiError):
    def __init__(self, message: str):
        super().__init__(415, message)


class Busy(ApiError):
    """The queue is full: come back later."""

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(503, message, {"Retry-After": str(retry_after)})


_STATUS = {InputError: 400, StyleNotFoundError: 404, OutputError: 500, ProviderError: 503}


def status_of(exc: RtstyleError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    return next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)


def one_line(text: object) -> str:
    return " ".join(str(text).split())[:500]
