"""Long work as jobs: a video through the same pipeline as ``rtstyle video``, an optimisation,
or a new live style trained from your painting as ``rtstyle train`` trains one.

Each job lives in ``<data dir>/jobs/<id>/`` (its id, never the uploaded name, makes the path)
and runs on one of ``settings.jobs`` job threads. A video job hands its batches to the
inference :class:`~rtstyle.serve.worker.Worker`, behind any photo. Cancelling sets the job's
event; the pipeline stops at its next batch and the writer deletes its partial file. A failed or
cancelled job leaves nothing but its record; finished results are deleted after the retention
time, or oldest first when the data dir grows past its cap.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.pipeline import stylize_video
from rtstyle.serve.errors import ApiError, Busy, one_line
from rtstyle.serve.settings import ServeSettings
from rtstyle.serve.store import FINISHED, Job, JobStore
from rtstyle.serve.worker import Worker
from rtstyle.temporal import Stabilizer

if TYPE_CHECKING:
    from rtstyle.training import OptimizeRequest, TrainRequest

log = logging.getLogger(__name__)

RESTART_REASON = "the server stopped while this job was queued or running"


class JobCancelled(Exception):
    """Raised inside a job's own work when its cancel event is set."""


@dataclass(frozen=True)
class TrainWork:
    request: TrainRequest  # its paths inside the job's folder
    images: list[np.ndarray]  # its content, loaded and counted when the request came


class _QueuedEngine:
    """What :func:`stylize_video` needs of an engine, with inference done by the worker thread."""

    def __init__(self, worker: Worker, style: str, cancel: threading.Event, stroke: float | None = None):
        self.provider = worker.engine.provider
        self._worker, self._style, self._cancel, self._stroke = worker, style, cancel, stroke

    def stylize(self, frames: np.ndarray) -> np.ndarray:
        if self._cancel.is_set():
            raise JobCancelled
        return self._worker.frames(frames, self._style, self._stroke).result()

    def stroke_size(self) -> float:
        return self._worker.engine.stroke_size(self._style, self._stroke)


class JobRunner:
    """Starts, tracks, cancels and cleans up jobs; every method is safe from any thread."""

    def __init__(self, settings: ServeSettings, store: JobStore, worker: Worker):
        self.settings, self.store, self.worker = settings, store, worker
        self._pool = ThreadPoolExecutor(max_workers=settings.jobs, thread_name_prefix="rtstyle-job")
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()  # job state transitions: cancel vs. finish
        self._closing = False
        settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        for job_id in store.fail_unfinished(RESTART_REASON):
            shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def close(self) -> None:
        """Stop every job: a job the server stops fails with :data:`RESTART_REASON`, as after a crash."""
        self._closing = True
        for event in list(self._cancel.values()):
            event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.fail_unfinished(RESTART_REASON)

    def folder(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def new_job(self, *, kind: str, style: str | None, name: str, frames_total: int = 0) -> tuple[Job, Path]:
        """A queued record and the path of its folder (not made yet), or :class:`Busy` when the queue is full."""
        waiting = self.store.count("queued", "running")
        if waiting >= self.settings.jobs + self.settings.queue:
            raise Busy(f"{waiting} jobs are queued or running; try again when one has finished", retry_after=30)
        job = self.store.add(kind=kind, style=style, name=name, frames_total=frames_total)
        return job, self.folder(job.id)

    def start_video(self, job: Job, source: Path, stroke: float | None = None) -> None:
        self._start(job, lambda cancel: self._video(job, source, cancel, stroke))

    def start_optimize(self, job: Job, request: OptimizeRequest) -> None:
        self._start(job, lambda cancel: self._optimize(job, request, cancel))

    def start_train(self, job: Job, work: TrainWork, installed: Callable[[list[Path]], Path]) -> None:
        """Train as ``rtstyle train`` does; ``installed`` gets the new model files and names the one to download."""
        self._start(job, lambda cancel: self._train(job, work, installed, cancel))

    def discard(self, job: Job) -> None:
        """A job whose upload was refused: no record, no files."""
        shutil.rmtree(self.folder(job.id), ignore_errors=True)
        self.store.delete(job.id)

    def cancel_or_remove(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (its record stays); remove a finished one. None: removed."""
        with self._lock:
            job = self.store.get(job_id)
            if job is None:
                raise ApiError(404, f"no job {job_id!r}")
            if job.state in FINISHED:
                shutil.rmtree(self.folder(job_id), ignore_errors=True)
                self.store.delete(job_id)
                return None
            self._cancel.setdefault(job_id, threading.Event()).set()
            cancelled = self.store.update(job_id, state="cancelled", error=None)
        if job.state == "queued":
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return cancelled

    def cleanup(self, now: float | None = None) -> int:
        """Delete results past the retention time, then the oldest until under the cap; how many."""
        now = time.time() if now is None else now
        expired = self.store.finished_before(now - self.settings.retention_hours * 3600)
        for job in expired:
            self._remove(job.id)
        removed = len(expired)
        for job in self.store.finished_before(now + 1):  # oldest first
            if _size(self.settings.jobs_dir) <= self.settings.data_cap_bytes:
                break
            self._remove(job.id)
            removed += 1
        return removed

    def _remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        self.store.delete(job_id)

    def _start(self, job: Job, body: Callable[[threading.Event], tuple[str, int]]) -> None:
        cancel = self._cancel.setdefault(job.id, threading.Event())
        self._pool.submit(self._run, job, body, cancel)

    def _run(self, job: Job, body: Callable[[threading.Event], tuple[str, int]], cancel: threading.Event) -> None:
        with self._lock:
            if cancel.is_set():
                return
            job = self.store.update(job.id, state="running") or job
        started = time.monotonic()
        self.store.track(job)
        outcome: dict[str, object]
        try:
            result, frames = body(cancel)
            outcome = {"state": "done", "result": result, "frames_done": frames,
                       "fps": frames / max(time.monotonic() - started, 1e-6)}
        except JobCancelled:
            outcome = {"state": "cancelled"}
        except RtstyleError as exc:
            outcome = {"state": "failed", "error": one_line(exc)}
        except Exception as exc:  # a bug: the user gets one line, the log the traceback
            log.exception("job %s failed", job.id)
            outcome = {"state": "failed", "error": f"internal error ({exc.__class__.__name__}); see the server log"}
        with self._lock:
            if self._closing:
                outcome = {"state": "failed", "error": RESTART_REASON}
            elif cancel.is_set():
                outcome = {"state": "cancelled"}
            if outcome["state"] != "done":
                shutil.rmtree(self.folder(job.id), ignore_errors=True)
            self.store.update(job.id, **outcome)
            self._cancel.pop(job.id, None)
        log.info("job %s (%s): %s", job.id, job.kind, outcome["state"])

    def _progress(self, job: Job, cancel: threading.Event) -> Callable[[int, int], None]:
        """The one progress-and-cancel path of every job: ``progress(done, total)`` in the job's unit
        (frames or steps) updates its counters, and raises :class:`JobCancelled` once it is cancelled."""
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            self.store.progress(job.id, frames_done=done, frames_total=total or job.frames_total,
                                fps=done / max(time.monotonic() - started, 1e-6))
            if cancel.is_set():
                raise JobCancelled
        return progress

    def _video(self, job: Job, source: Path, cancel: threading.Event, stroke: float | None) -> tuple[str, int]:
        target = source.with_name("result.mp4")
        progress, done = self._progress(job, cancel), 0

        def written(n: int) -> None:
            nonlocal done
            done += n
            progress(done, job.frames_total)

        stylize_video(source, target, _QueuedEngine(self.worker, job.style or "", cancel, stroke),
                      stabilizer=Stabilizer(),
                      progress=False, on_frames=written)
        source.unlink(missing_ok=True)
        return target.name, done

    def _optimize(self, job: Job, request: OptimizeRequest, cancel: threading.Event) -> tuple[str, int]:
        from rtstyle.serve.images import encode_png
        from rtstyle.training import optimize_picture

        picture = optimize_picture(request, progress=self._progress(job, cancel))
        target = self.folder(job.id) / "result.png"
        target.write_bytes(encode_png(np.ascontiguousarray(picture[..., ::-1])))
        return target.name, request.steps

    def _train(self, job: Job, work: TrainWork, installed: Callable[[list[Path]], Path],
               cancel: threading.Event) -> tuple[str, int]:
        from rtstyle.training import train_style

        written = train_style(work.request, images=work.images, progress=self._progress(job, cancel))
        if work.request.run_dir is not None:
            shutil.rmtree(work.request.run_dir, ignore_errors=True)  # the checkpoints: the networks are installed
        served = installed(written)
        shutil.copyfile(served, self.folder(job.id) / served.name)
        return served.name, job.frames_total


def torch_missing() -> str | None:
    """Why "your painting" cannot run here, or None when it can."""
    from rtstyle.training import TRAIN_EXTRA_HINT
    from rtstyle.training import torch_missing as missing

    return f"your painting needs PyTorch on the server: {TRAIN_EXTRA_HINT}" if missing() else None


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
