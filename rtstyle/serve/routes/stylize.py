"""``POST /api/stylize``: one photo in, the painted PNG of the same size out."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from rtstyle.color import finish
from rtstyle.errors import InputError
from rtstyle.serve.images import decode, encode_png
from rtstyle.serve.routes.deps import StudioDep
from rtstyle.strokes import STROKE_HELP, check_stroke

router = APIRouter()


@router.post("/api/stylize", response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def stylize(studio: StudioDep,
                  image: Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP or TIFF")],
                  style: Annotated[str | None, Form(description="a painting (default: starry_night)")] = None,
                  strength: Annotated[float, Form(description="1: all style, 0: the photo")] = 1.0,
                  preserve_colors: Annotated[bool, Form(description="the strokes on the photo's colours")] = False,
                  stroke_size: Annotated[float | None, Form(description=STROKE_HELP)] = None,
                  ) -> Response:
    """The photo (EXIF orientation applied) in the painting's style, as a PNG of the photo's size."""
    painting = studio.painting(style)
    if not 0 <= strength <= 1:
        raise InputError(f"strength must be between 0 and 1, not {strength}")
    stroke = check_stroke(stroke_size) if stroke_size is not None else None
    photo = await run_in_threadpool(decode, await image.read(), max_pixels=studio.settings.image_pixels,
                                    what="photo")
    painted = (await asyncio.wrap_future(studio.worker.photo(photo, painting.network.name, stroke)))[0]
    png = await run_in_threadpool(
        lambda: encode_png(finish(photo, painted, strength=strength, preserve_colors=preserve_colors)))
    return Response(png, media_type="image/png")
