"""The one thread that runs inference: the event loop and the job threads only hand it work.

Work waits in two queues: photos (a person is looking at the page) and video batches (a job
can wait). Photos always go first, so a long video job never starves the page. On a GPU, photos
of the same style and size that arrive within a few milliseconds are stylized in one call; on a
CPU batches are slower than single frames, so there each photo runs alone.

Handlers never block: they get a :class:`concurrent.futures.Future` (``asyncio.wrap_future``
awaits it). A full photo queue is :class:`Busy` (503 with ``Retry-After``), not a backlog.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from rtstyle.serve.errors import Busy
from rtstyle.live import StyleEngine

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.004  # how long a GPU batch waits for more photos of its size


@dataclass(eq=False)
class _Work:
    frames: np.ndarray  # uint8 BGR N×H×W×3
    style: str
    future: Future[np.ndarray] = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, tuple[int, ...]]:
        return self.style, self.frames.shape[1:]


class Worker:
    """Owns ``engine``; see the module docstring. A context manager: the thread lives inside it."""

    def __init__(self, engine: StyleEngine, *, queue_size: int = 16, photo_batch: int = 1):
        self.engine = engine
        self.queue_size = queue_size
        self.photo_batch = max(1, photo_batch)
        self._photos: collections.deque[_Work] = collections.deque()
        self._batches: collections.deque[_Work] = collections.deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="rtstyle-inference", daemon=True)
        self.calls = 0  # engine calls made, for tests and the benchmark

    def __enter__(self) -> Worker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._stopping = True
            for work in (*self._photos, *self._batches):
                work.future.cancel()
            self._photos.clear()
            self._batches.clear()
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def photo(self, image: np.ndarray, style: str) -> Future[np.ndarray]:
        """Stylize one uint8 BGR H×W×3 picture ahead of any video work."""
        with self._changed:
            if len(self._photos) >= self.queue_size:
                raise Busy(f"{len(self._photos)} pictures are waiting for the engine; try again in a few seconds")
            return self._add(self._photos, _Work(image[None], style))

    def frames(self, batch: np.ndarray, style: str) -> Future[np.ndarray]:
        """Stylize a video job's N×H×W×3 batch when no photo is waiting."""
        with self._changed:
            return self._add(self._batches, _Work(batch, style))

    @property
    def waiting(self) -> int:
        return len(self._photos) + len(self._batches)

    def _add(self, queue: collections.deque[_Work], work: _Work) -> Future[np.ndarray]:
        if self._stopping:
            raise Busy("the server is shutting down")
        queue.append(work)
        self._changed.notify()
        return work.future

    def _run(self) -> None:
        while True:
            group = self._next()
            if group is None:
                return
            self._stylize(group)

    def _next(self) -> list[_Work] | None:
        """The next photos of one style and size (up to ``photo_batch``), else one video batch."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopping or self._photos or self._batches)
            if self._stopping:
                return None
            if not self._photos:
                return [self._batches.popleft()]
            first = self._photos.popleft()
            group = [first]
            deadline = time.monotonic() + GATHER_SECONDS
            while len(group) < self.photo_batch:
                group += self._take_like(first, self.photo_batch - len(group))
                left = deadline - time.monotonic()
                if len(group) == self.photo_batch or left <= 0 or not self._changed.wait(left):
                    break
            return group

    def _take_like(self, first: _Work, limit: int) -> list[_Work]:
        same = [w for w in self._photos if w.key == first.key][:limit]
        for work in same:
            self._photos.remove(work)
        return same

    def _stylize(self, group: list[_Work]) -> None:
        live = [w for w in group if w.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            frames = live[0].frames if len(live) == 1 else np.concatenate([w.frames for w in live])
            out = self.engine.stylize(frames, style=live[0].style)
            self.calls += 1
        except BaseException as exc:  # handed to whoever waits on the future
            for work in live:
                work.future.set_exception(exc)
            return
        start = 0
        for work in live:
            n = len(work.frames)
            work.future.set_result(out[start:start + n])
            start += n
