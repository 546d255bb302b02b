"""What routes receive: the studio (made by the lifespan) and the token check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from rtstyle.serve.errors import ApiError
from rtstyle.serve.state import Studio


def get_studio(request: Request) -> Studio:
    return request.app.state.studio  # type: ignore[no-any-return]


StudioDep = Annotated[Studio, Depends(get_studio)]


def require_token(request: Request, studio: StudioDep) -> None:
    """With a token set, ``Authorization: Bearer <token>``, or ``?token=`` for URLs a browser
    loads by itself (an image, a download link, an event stream), which cannot carry a header."""
    expected = studio.settings.token
    if not expected:
        return
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": "Bearer"})
