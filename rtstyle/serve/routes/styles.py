"""The gallery: ``/api/styles`` and each painting's thumbnail."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from rtstyle.serve.images import encode_jpeg
from rtstyle.serve.routes.deps import StudioDep
from rtstyle.synthetic import scene

router = APIRouter()


@router.get("/api/styles")
def list_styles(studio: StudioDep) -> list[dict[str, object]]:
    return [p.describe() for p in studio.paintings.values()]


@router.get("/api/styles/{name}/thumbnail", responses={200: {"content": {"image/jpeg": {}}}})
async def thumbnail(name: str, studio: StudioDep) -> Response:
    """The painting's shipped JPEG; for a style that ships none, its network's view of the built-in scene."""
    painting = studio.painting(name)
    data = studio.thumbnails.get(painting.name)
    if data is None:
        if painting.thumbnail is not None:
            data = await run_in_threadpool(painting.thumbnail.read_bytes)
        else:
            painted = await asyncio.wrap_future(studio.worker.photo(scene(0, 320, 240), painting.network.name))
            data = await run_in_threadpool(encode_jpeg, painted[0])
        studio.thumbnails[painting.name] = data
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
