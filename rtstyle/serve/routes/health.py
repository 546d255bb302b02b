"""``/healthz`` for monitors (no token needed) and ``/api/info`` for the page."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from rtstyle import __version__
from rtstyle.serve.jobs import torch_missing
from rtstyle.serve.routes.deps import StudioDep, require_token

router = APIRouter()


@router.get("/healthz")
def healthz(studio: StudioDep) -> dict[str, object]:
    return {"ok": True, "provider": studio.engine.provider, "styles": len(studio.paintings),
            "live_sessions": len(studio.live_sessions)}


@router.get("/api/info", dependencies=[Depends(require_token)])
def info(studio: StudioDep) -> dict[str, object]:
    s = studio.settings
    return {"version": __version__, "provider": studio.engine.provider, "torch": torch_missing() is None,
            "auth": bool(s.token), "default_style": studio.default,
            "limits": {"upload_bytes": s.upload_bytes, "image_pixels": s.image_pixels,
                       "video_seconds": s.video_seconds, "jobs": s.jobs, "queue": s.queue}}
