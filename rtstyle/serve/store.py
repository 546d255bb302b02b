"""Job records in SQLite, so jobs outlive a page reload and a server restart.

The database holds what a job is and how it ended; the progress of a running job lives in
memory (it changes a few times a second) and is merged in by :meth:`JobStore.get`. A job that
was queued or running when the server stopped is marked failed when the next one starts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, style TEXT, name TEXT NOT NULL, state TEXT NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0, frames_total INTEGER NOT NULL DEFAULT 0, fps REAL NOT NULL DEFAULT 0,
    error TEXT, result TEXT, created REAL NOT NULL, finished REAL
)"""


@dataclass(frozen=True)
class Job:
    """One job as the API shows it (``result`` is the file name inside the job's folder)."""

    id: str
    kind: str  # "video", "optimize" or "train"
    style: str | None
    name: str  # the uploaded file's name, for display only: never used as a path
    state: str
    # Counted in the job's :attr:`unit`: frames of a video, steps of an optimisation or a training.
    # (The columns keep their first name: the table outlives a server upgrade.)
    frames_done: int = 0
    frames_total: int = 0
    fps: float = 0.0
    error: str | None = None
    result: str | None = None
    created: float = 0.0
    finished: float | None = None

    @property
    def unit(self) -> str:
        return "frames" if self.kind == "video" else "steps"

    @property
    def seconds_left(self) -> float | None:
        if self.state != "running" or not self.fps or not self.frames_total:
            return None
        return max(0.0, (self.frames_total - self.frames_done) / self.fps)

    def public(self, token_query: str = "") -> dict[str, object]:
        """The JSON the API returns."""
        out = {k: v for k, v in asdict(self).items() if k not in ("result", "finished")}
        out["fps"] = round(self.fps, 2)
        out["seconds_left"] = None if self.seconds_left is None else round(self.seconds_left, 1)
        out["result"] = f"/api/jobs/{self.id}/result{token_query}" if self.state == "done" and self.result else None
        # ``done``/``total`` in ``unit``; frames_done/frames_total count frames of a video. For the
        # other kinds they repeat the steps until the page reads ``progress`` (kept for it).
        out["progress"] = {"done": self.frames_done, "total": self.frames_total, "unit": self.unit,
                           "per_second": out["fps"]}
        if self.unit == "steps":
            out["steps_done"], out["steps_total"] = self.frames_done, self.frames_total
        return out


class JobStore:
    """The ``jobs`` table, safe to use from any thread."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._progress: dict[str, Job] = {}  # running jobs: their newest state, newer than the table's
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, *, kind: str, style: str | None, name: str, frames_total: int = 0) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], kind=kind, style=style, name=name[:200], state="queued",
                  frames_total=frames_total, created=time.time())
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, kind, style, name, state, frames_total, created) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (job.id, job.kind, job.style, job.name, job.state, job.frames_total, job.created))
        return job

    def get(self, job_id: str) -> Job | None:
        if job_id in self._progress:
            return self._progress[job_id]
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(**dict(row)) if row else None

    def all(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC").fetchall()
        return [self._progress.get(row["id"]) or Job(**dict(row)) for row in rows]

    def track(self, job: Job) -> None:
        """Keep a running job's counters in memory from now on, until it finishes."""
        self._progress[job.id] = job

    def progress(self, job_id: str, **changes: object) -> None:
        """New counters of a tracked job (not written: they change several times a second)."""
        current = self._progress.get(job_id)
        if current is not None and current.state == "running":
            self._progress[job_id] = replace(current, **changes)  # type: ignore[arg-type]

    def update(self, job_id: str, **changes: object) -> Job | None:
        """Write a change (a new state, the final counters) to the table."""
        current = self.get(job_id)
        if current is None:
            return None
        job = replace(current, **changes)  # type: ignore[arg-type]
        if job.state in FINISHED and job.finished is None:
            job = replace(job, finished=time.time())
        columns = [k for k in asdict(job) if k != "id"]
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                             [getattr(job, c) for c in columns] + [job.id])
        if job.state in FINISHED:
            self._progress.pop(job.id, None)
        elif job.id in self._progress:
            self._progress[job.id] = job
        return job

    def delete(self, job_id: str) -> None:
        self._progress.pop(job_id, None)
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def count(self, *states: str) -> int:
        with self._lock:
            marks = ", ".join("?" * len(states))
            return int(self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", states).fetchone()[0])

    def fail_unfinished(self, reason: str) -> list[str]:
        """Mark every queued or running job failed (the server that ran them is gone); their ids."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE state IN ('queued', 'running')")]
            self._db.execute("UPDATE jobs SET state = 'failed', error = ?, finished = ? "
                             "WHERE state IN ('queued', 'running')", (reason, time.time()))
        return ids

    def finished_before(self, when: float) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state IN ('done', 'failed', 'cancelled') "
                                    "AND finished < ? ORDER BY finished", (when,)).fetchall()
        return [Job(**dict(row)) for row in rows]
