"""The batch on Ray: actors paint chunks, the driver plans, submits and joins.

Each :class:`ChunkWorker` actor loads one engine when it starts and then paints chunk after chunk.
The driver keeps one chunk in flight per idle actor (so a slow machine takes fewer chunks), plans
a video when its first chunk is due, and joins a video as soon as its last chunk is in. A worker
that dies is restarted by Ray, which runs its chunk again (``max_restarts``/``max_task_retries``);
a chunk that fails for its input fails its video only. Chunk files go to a hidden folder inside
the output folder, removed at the end whatever happens, so every node must see the inputs and
the output folder at the same paths (one machine, or a shared file system).

This is the only module that imports Ray, and only inside :func:`run_on_ray`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rtstyle.batch.chunks import ChunkJob, join_chunks, paint_chunk
from rtstyle.batch.plan import (
    ClusterSettings,
    PaintSettings,
    VideoJob,
    VideoPlan,
    VideoResult,
    header_frames,
    plan_video,
)
from rtstyle.engine import Engine
from rtstyle.errors import InputError, RtstyleError, first_line
from rtstyle.video import pick_encoder

log = logging.getLogger(__name__)

RETRIES = 3  # restarts of a dead worker, and reruns of the chunk it was painting


class ChunkWorker:
    """A Ray actor's body: one engine, loaded once, paints chunk after chunk."""

    def __init__(self, paint: PaintSettings):
        self.paint = paint
        self.error: RtstyleError | None = None
        try:
            self.engine = Engine(list(paint.styles), paint.engine)
        except RtstyleError as exc:  # reported by ready(): a bad model is no crash to restart for
            self.error = exc

    def ready(self, encoder: str) -> str:
        """The encoder this worker resolves ``encoder`` to (``auto`` → NVENC or libx264)."""
        if self.error is not None:
            raise self.error
        return pick_encoder(encoder, (64, 64), Fraction(25))

    def paint_chunk(self, job: ChunkJob) -> int:
        return paint_chunk(job, self.engine, self.paint)


@dataclass
class _Video:
    """A video on its way: its plan, its chunk files, and how many are still being painted."""

    plan: VideoPlan
    parts: list[Path]
    left: int
    frames: int = 0
    duration: float = 0.0
    began: float = field(default_factory=time.perf_counter)
    error: RtstyleError | None = None


def run_on_ray(jobs: Sequence[VideoJob], paint: PaintSettings, cluster: ClusterSettings, *,
               progress: bool = False) -> list[VideoResult]:
    import ray

    owned = _connect(ray, cluster.address)
    scratch = Path(tempfile.mkdtemp(prefix=".rtstyle-chunks-", dir=jobs[0].target.parent))
    workers: list[Any] = []
    try:
        workers, encoder = _start_workers(ray, paint, cluster)
        total = sum(header_frames(job.source) for job in jobs)
        with tqdm(total=total or None, unit="frame", disable=not progress, desc="batch", leave=False) as bar:
            return _drive(ray, workers, jobs, _plans(jobs, paint, cluster, scratch, encoder), bar)
    finally:
        for worker in workers:  # stops chunks still being painted (after Ctrl-C or a failure)
            ray.kill(worker)
        if owned:
            ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


def _connect(ray: Any, address: str) -> bool:
    """Join or start the Ray runtime; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise RtstyleError(f"cannot start or reach Ray at {address!r}: {first_line(exc)}") from exc
    return True


def _start_workers(ray: Any, paint: PaintSettings, cluster: ClusterSettings) -> tuple[list[Any], str]:
    """The actors, each with its engine loaded, and the encoder they resolved ``paint.encoder`` to."""
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    per_gpu = cluster.gpus_per_worker
    if per_gpu is None:
        per_gpu = 1.0 if gpus >= 1 and paint.engine.device != "cpu" else 0.0
    per_cpu = cluster.cpus_per_worker
    fits = min(cpus // per_cpu if per_cpu else float("inf"), gpus // per_gpu if per_gpu else float("inf"))
    count = cluster.workers or int(min(fits, 1024))
    if count < 1 or count > fits:
        raise InputError(f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs: {max(count, 1)} worker(s) of "
                         f"{per_cpu:g} CPU(s) and {per_gpu:g} GPU(s) each do not fit")
    engine = dataclasses.replace(paint.engine, threads=paint.engine.threads or max(1, int(per_cpu)))
    actor = ray.remote(ChunkWorker).options(num_cpus=per_cpu, num_gpus=per_gpu, max_restarts=RETRIES,
                                            max_task_retries=RETRIES)
    workers = [actor.remote(dataclasses.replace(paint, engine=engine)) for _ in range(count)]
    try:
        encoders = set(ray.get([w.ready.remote(paint.encoder) for w in workers]))
    except ray.exceptions.RayError as exc:
        for worker in workers:
            ray.kill(worker)
        raise _one_error(exc, "a Ray worker could not start") from None
    if len(encoders) > 1:  # chunks must be encoded alike to be joined without re-encoding
        encoders = {"libx264"}
    log.info("%d Ray workers, %g CPU(s) and %g GPU(s) each, encoding with %s", count, per_cpu, per_gpu, *encoders)
    return workers, encoders.pop()


def _plans(jobs: Sequence[VideoJob], paint: PaintSettings, cluster: ClusterSettings, scratch: Path,
           encoder: str) -> Iterator[tuple[_Video, ChunkJob] | VideoResult]:
    """Each video's chunk jobs, planned when its first chunk is due; a video that cannot be
    planned comes out as its failed result instead."""
    for number, job in enumerate(jobs):
        try:
            plan = plan_video(job, chunk_seconds=cluster.chunk_seconds, warmup=paint.warmup)
        except RtstyleError as exc:
            yield VideoResult(job, 0, 0.0, exc)
            continue
        parts = [scratch / f"{number:05d}-{chunk.index:05d}.mp4" for chunk in plan.chunks]
        video = _Video(plan, parts, left=len(parts))
        for chunk, part in zip(plan.chunks, parts, strict=True):
            yield video, ChunkJob(job.source, part, chunk, plan.fps, encoder)


def _drive(ray: Any, workers: list[Any], jobs: Sequence[VideoJob],
           work: Iterator[tuple[_Video, ChunkJob] | VideoResult], bar: tqdm) -> list[VideoResult]:
    """Give each idle worker the next chunk; as chunks come back, join the videos they finish."""
    results: dict[VideoJob, VideoResult] = {}
    idle, running = list(workers), {}
    while True:
        while idle and (item := next(work, None)) is not None:
            if isinstance(item, VideoResult):
                results[item.job] = item
            elif item[0].error is None:  # the other chunks of a failed video are not painted
                worker = idle.pop()
                running[worker.paint_chunk.remote(item[1])] = (worker, *item)
        if not running:
            break
        [ref], _ = ray.wait(list(running), num_returns=1)
        worker, video, job = running.pop(ref)
        try:
            frames = ray.get(ref)
        except ray.exceptions.RayActorError as exc:  # died RETRIES times: not given work again
            video.error = video.error or _one_error(exc, f"a Ray worker died painting frames {job.chunk.start}-"
                                                         f"{job.chunk.end - 1} of {job.source}")
        except ray.exceptions.RayError as exc:
            idle.append(worker)
            video.error = video.error or _one_error(exc, str(job.source))
        else:
            idle.append(worker)
            video.frames += frames
            bar.update(frames)
        video.left -= 1
        if video.left == 0:
            results[video.plan.job] = _finish(video)
    gone = RtstyleError("not painted: every Ray worker died")
    return [results.get(job) or VideoResult(job, 0, 0.0, gone) for job in jobs]


def _finish(video: _Video) -> VideoResult:
    """Join a video whose chunks are all back (or report why it failed); its chunk files go."""
    job = video.plan.job
    try:
        if video.error is None:
            video.duration = join_chunks(video.plan, video.parts)
    except RtstyleError as exc:
        video.error = exc
    finally:
        for part in video.parts:
            part.unlink(missing_ok=True)
    seconds = time.perf_counter() - video.began
    if video.error is not None:
        return VideoResult(job, 0, seconds, video.error)
    return VideoResult(job, video.frames, seconds, duration=video.duration)


def _one_error(exc: BaseException, context: str) -> RtstyleError:
    """The worker's own error where it raised one (Ray hands it back as ``cause``), else one line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RtstyleError):
        return cause
    return RtstyleError(f"{context}: {first_line(cause or exc)}")
