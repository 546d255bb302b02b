"""Jobs: a video through ``rtstyle video``'s pipeline, "your painting" by optimisation, or your
painting made a live style (``rtstyle train``).

``POST /api/jobs``, ``POST /api/optimize`` and ``POST /api/styles/train`` answer 202 at once with the queued job; its
progress is ``GET /api/jobs/{id}`` or, pushed, ``GET /api/jobs/{id}/events`` (Server-Sent Events).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import cv2
from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rtstyle.errors import InputError
from rtstyle.serve.errors import ApiError, TooLarge, Unsupported
from rtstyle.serve.images import decode, fit_within
from rtstyle.serve.jobs import TrainWork, torch_missing
from rtstyle.serve.routes.deps import StudioDep
from rtstyle.serve.settings import ServeSettings
from rtstyle.serve.state import Studio
from rtstyle.serve.store import FINISHED, Job
from rtstyle.strokes import STROKE_HELP, check_stroke
from rtstyle.video import VideoReader

if TYPE_CHECKING:
    from rtstyle.training import TrainRequest

router = APIRouter()

EVENT_SECONDS = 0.25  # how often a job's event stream looks for news
KEEPALIVE_SECONDS = 15.0
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".gif", ".3gp"}
# The first bytes of the containers PyAV reads: a file that starts like one but does not open is
# corrupt (400); one that starts like none of them is not a video at all (415).
_VIDEO_MAGIC = re.compile(rb"^(....ftyp|\x1a\x45\xdf\xa3|RIFF....AVI|\x00\x00\x01\xba|\x00\x00\x01\xb3|\x47|FLV|GIF8)",
                          re.DOTALL)


@router.post("/api/jobs", status_code=202)
async def create_video_job(studio: StudioDep,
                           video: Annotated[UploadFile, File(description="MP4, MOV, MKV, WebM or AVI")],
                           style: Annotated[str | None, Form(description="a painting (default: starry_night)")] = None,
                           stroke_size: Annotated[float | None, Form(description=STROKE_HELP)] = None,
                           ) -> JSONResponse:
    """Stylize every frame, keeping frame rate and audio; the result is an H.264 MP4."""
    painting = studio.painting(style)
    stroke = check_stroke(stroke_size) if stroke_size is not None else None
    incoming = studio.settings.jobs_dir / f".upload-{uuid.uuid4().hex}"
    incoming.mkdir(parents=True)
    try:
        source = incoming / f"input{_suffix(video.filename)}"
        await run_in_threadpool(_save, video.file, source)
        frames = await run_in_threadpool(_check_video, source, studio.settings.video_seconds)
        job, folder = studio.runner.new_job(kind="video", style=painting.network.name,
                                            name=video.filename or "video", frames_total=frames)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    incoming.rename(folder)
    studio.runner.start_video(job, folder / source.name, stroke)
    return JSONResponse(job.public(), status_code=202)


@router.post("/api/optimize", status_code=202)
async def create_optimize_job(studio: StudioDep,
                              image: Annotated[UploadFile, File(description="the photo")],
                              painting: Annotated[UploadFile, File(description="your painting")],
                              steps: Annotated[int, Form(ge=1, le=1000, description="VGG passes (L-BFGS)")] = 100,
                              size: Annotated[int, Form(ge=32, le=1024, description="long side of the result")] = 384,
                              ) -> JSONResponse:
    """Gatys et al.'s optimisation (``rtstyle optimize``) of the photo in your painting's style; a PNG."""
    from rtstyle.training import OptimizeRequest

    reason = torch_missing()
    if reason:
        raise ApiError(503, reason)
    limit = studio.settings.image_pixels
    photo = await run_in_threadpool(decode, await image.read(), max_pixels=limit, what="photo")
    style = await run_in_threadpool(decode, await painting.read(), max_pixels=limit, what="painting")
    request = OptimizeRequest(photo_rgb=fit_within(photo, size)[..., ::-1].copy(),
                              painting_rgb=fit_within(style, size)[..., ::-1].copy(), steps=steps,
                              vgg_weights=studio.settings.vgg_weights)
    job, folder = studio.runner.new_job(kind="optimize", style=None, name=painting.filename or "painting",
                                        frames_total=steps)
    folder.mkdir(parents=True)
    studio.runner.start_optimize(job, request)
    return JSONResponse(job.public(), status_code=202)


@router.post("/api/styles/train", status_code=202)
async def create_train_job(studio: StudioDep,
                           painting: Annotated[UploadFile, File(description="your painting")],
                           content: Annotated[list[UploadFile], File(description="what it learns to paint: a video, "
                                                                     "or at least 50 photos")],
                           name: Annotated[str | None, Form(description="style name (default: the file's)")] = None,
                           steps: Annotated[int, Form(ge=1, le=100_000, description="full network steps")] = 0,
                           fast_steps: Annotated[int, Form(ge=1, le=100_000, description="fast network steps")] = 0,
                           ) -> JSONResponse:
    """Make your painting a live style (``rtstyle train``): when the job is done it is in the gallery,
    the live panel and every command, and its network is the job's result."""
    reason = torch_missing()
    if reason:
        raise ApiError(503, reason)
    from rtstyle.training import FAST_STEPS, FULL_STEPS, TrainRequest, load_content

    limit = studio.settings.image_pixels
    style = await run_in_threadpool(decode, await painting.read(), max_pixels=limit, what="painting")
    incoming = studio.settings.jobs_dir / f".upload-{uuid.uuid4().hex}"
    (incoming / "content").mkdir(parents=True)
    try:
        painting_file = incoming / "painting.png"
        await run_in_threadpool(cv2.imwrite, str(painting_file), style)
        sources = await run_in_threadpool(_save_content, content, incoming / "content", studio.settings)
        request = TrainRequest(painting=painting_file, content=tuple(sources), run_dir=incoming / "run",
                               name=_free_name(name or Path(painting.filename or "painting").stem),
                               steps=steps or FULL_STEPS, fast_steps=fast_steps or FAST_STEPS,
                               vgg_weights=studio.settings.vgg_weights)
        images = await run_in_threadpool(load_content, request)  # too few distinct images: 400 now, not a failed job
        job, folder = studio.runner.new_job(kind="train", style=request.name, name=painting.filename or request.name,
                                            frames_total=request.steps + request.fast_steps)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    incoming.rename(folder)
    studio.runner.start_train(job, TrainWork(request=_moved(request, incoming, folder), images=images),
                              studio.add_style)
    return JSONResponse(job.public(), status_code=202)


def _moved(request: TrainRequest, old: Path, new: Path) -> TrainRequest:
    """``request`` with its files in ``new`` instead of ``old`` (the upload folder became the job's)."""
    def moved(path: Path) -> Path:
        return new / path.relative_to(old)

    return replace(request, painting=moved(request.painting), content=tuple(map(moved, request.content)),
                   run_dir=moved(request.run_dir) if request.run_dir else None)


def _save_content(files: list[UploadFile], folder: Path, settings: ServeSettings) -> list[Path]:
    """Photos into ``folder`` (checked as photos are), videos beside it (checked as videos are)."""
    videos = []
    for i, upload in enumerate(files):
        data = upload.file.read()
        if _VIDEO_MAGIC.match(data[:16]) and not data.startswith(b"GIF8"):
            video = folder.parent / f"video{i}{_suffix(upload.filename)}"
            video.write_bytes(data)
            _check_video(video, settings.video_seconds)
            videos.append(video)
        else:
            bgr = decode(data, max_pixels=settings.image_pixels, what=f"photo {upload.filename}")
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    photos = [folder] if any(folder.iterdir()) else []
    return photos + videos


def _free_name(wanted: str) -> str:
    """A style name from ``wanted`` that no installed style has yet."""
    from rtstyle.models import installed_styles

    base = re.sub(r"[^a-z0-9]+", "_", wanted.lower()).strip("_") or "my_style"
    taken = {name for s in installed_styles() for name in (s.base, s.name)}
    return next(n for n in (base, *(f"{base}_{i}" for i in range(2, 1000))) if n not in taken)


@router.get("/api/jobs")
def list_jobs(studio: StudioDep) -> list[dict[str, object]]:
    """Every job the studio remembers, newest first."""
    return [job.public() for job in studio.store.all()]


@router.get("/api/jobs/{job_id}")
def get_job(job_id: str, studio: StudioDep) -> dict[str, object]:
    return _job(studio, job_id).public()


@router.get("/api/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, request: Request, studio: StudioDep) -> StreamingResponse:
    """The job as ``data: <JSON>`` events, one per change; the stream ends when the job has."""
    _job(studio, job_id)

    async def stream() -> AsyncIterator[str]:
        last, quiet = "", 0.0
        while not await request.is_disconnected():
            job = studio.store.get(job_id)
            if job is None:
                return
            data = json.dumps(job.public())
            if data != last or quiet >= KEEPALIVE_SECONDS:
                yield f"data: {data}\n\n" if data != last else ": keep-alive\n\n"
                last, quiet = data, 0.0
            if job.state in FINISHED:
                return
            await asyncio.sleep(EVENT_SECONDS)
            quiet += EVENT_SECONDS

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/jobs/{job_id}/result", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}, "image/png": {}}}})
def job_result(job_id: str, studio: StudioDep) -> FileResponse:
    job = _job(studio, job_id)
    path = studio.runner.folder(job.id) / (job.result or "")
    if job.state != "done" or not job.result or not path.is_file():
        raise ApiError(404, f"job {job_id} has no result ({job.state})")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(job.name).stem)[:80] or "result"
    label = job.style or "painted"
    return FileResponse(path, filename=f"{stem}-{label}{path.suffix}",
                        media_type="video/mp4" if path.suffix == ".mp4" else "image/png")


@router.delete("/api/jobs/{job_id}", responses={204: {"description": "removed with its files"}})
def delete_job(job_id: str, studio: StudioDep) -> Response:
    """A queued or running job is cancelled (its record stays); a finished one is removed."""
    job = studio.runner.cancel_or_remove(job_id)
    return Response(status_code=204) if job is None else JSONResponse(job.public())


def _job(studio: Studio, job_id: str) -> Job:
    job = studio.store.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r}")
    return job


def _suffix(filename: str | None) -> str:
    """The upload's suffix where it is a known video one (a hint for the demuxer), never a path."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in VIDEO_SUFFIXES else ".bin"


def _save(upload: IO[bytes], target: Path) -> None:
    upload.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)


def _check_video(path: Path, max_seconds: float) -> int:
    """The video's frame count (from the header, or estimated); the errors a user can act on."""
    try:
        reader = VideoReader(path)
    except InputError:
        with path.open("rb") as f:
            head = f.read(16)
        if _VIDEO_MAGIC.match(head):
            raise InputError("the video is truncated or corrupt: it cannot be opened") from None
        raise Unsupported("the upload is not a video the studio reads (MP4, MOV, MKV, WebM, AVI)") from None
    with reader:
        info = reader.info
        duration = reader.duration_seconds()
    if duration > max_seconds:
        raise TooLarge(f"the video is {duration:.0f} s long; the limit is {max_seconds:.0f} s")
    return info.frame_count or round(duration * float(info.fps))
