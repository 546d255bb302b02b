"""The one thread that runs inference: the event loop and the job threads only hand it work.

Work waits in three places: photos (a person is looking at the page), live feeds (browser
cameras, :class:`rtstyle.live.Feed`) and video batches (a job can wait). Photos always go first,
so a long video job never starves the page. Live feeds come next, taken in turn (round robin) and
only their newest frame, so several tabs share the engine fairly and none builds up latency; a
waiting video batch still gets one turn every :data:`LIVE_TURNS` live frames. On a GPU, photos of
the same style and size that arrive within a few milliseconds are stylized in one call; on a CPU
batches are slower than single frames, so there each photo runs alone.

Handlers never block: they get a :class:`concurrent.futures.Future` (``asyncio.wrap_future``
awaits it). A full photo queue is :class:`Busy` (503 with ``Retry-After``), not a backlog.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from rtstyle.live import Captured, Feed, StyleEngine
from rtstyle.serve.errors import Busy

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.004  # how long a GPU batch waits for more photos of its size
LIVE_TURNS = 3  # live frames painted in a row while a video batch waits, before the batch gets a turn


@dataclass(eq=False)
class _Work:
    frames: np.ndarray  # uint8 BGR N×H×W×3
    style: str
    stroke: float | None = None  # stroke size (rtstyle.strokes); None: the style's own
    future: Future[np.ndarray] = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, float | None, tuple[int, ...]]:
        return self.style, self.stroke, self.frames.shape[1:]


class Worker:
    """Owns ``engine``; see the module docstring. A context manager: the thread lives inside it."""

    def __init__(self, engine: StyleEngine, *, queue_size: int = 16, photo_batch: int = 1):
        self.engine = engine
        self.queue_size = queue_size
        self.photo_batch = max(1, photo_batch)
        self._photos: collections.deque[_Work] = collections.deque()
        self._batches: collections.deque[_Work] = collections.deque()
        self._feeds: collections.deque[Feed] = collections.deque()  # the next one to serve first
        self._live_streak = 0  # live frames painted since the last video batch
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="rtstyle-inference", daemon=True)
        self.calls = 0  # engine calls made, for tests and the benchmark

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Cancel whatever waits and stop the thread (after the call in progress)."""
        with self._changed:
            self._stopping = True
            for work in (*self._photos, *self._batches):
                work.future.cancel()
            self._photos.clear()
            self._batches.clear()
            self._feeds.clear()
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def photo(self, image: np.ndarray, style: str, stroke: float | None = None) -> Future[np.ndarray]:
        """Stylize one uint8 BGR H×W×3 picture ahead of any video work."""
        with self._changed:
            if len(self._photos) >= self.queue_size:
                raise Busy(f"{len(self._photos)} pictures are waiting for the engine; try again in a few seconds")
            return self._add(self._photos, _Work(image[None], style, stroke))

    def frames(self, batch: np.ndarray, style: str, stroke: float | None = None) -> Future[np.ndarray]:
        """Stylize a video job's N×H×W×3 batch when no photo is waiting."""
        with self._changed:
            return self._add(self._batches, _Work(batch, style, stroke))

    def add_feed(self, feed: Feed) -> None:
        """Paint ``feed``'s newest frame whenever it has one (until :meth:`remove_feed`)."""
        with self._changed:
            if self._stopping:
                raise Busy("the server is shutting down")
            self._feeds.append(feed)

    def remove_feed(self, feed: Feed) -> None:
        with self._changed:
            if feed in self._feeds:
                self._feeds.remove(feed)

    def live(self, feed: Feed, frame: Captured) -> None:
        """A new camera frame for ``feed``: it replaces any older one not painted yet."""
        feed.frames.put(frame)
        with self._changed:
            self._changed.notify()

    @property
    def feeds(self) -> int:
        return len(self._feeds)

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
            work = self._next()
            if work is None:
                return
            work()

    def _next(self) -> Callable[[], None] | None:
        """Photos first, then the next live feed with a new frame, then a video batch (see the module docstring)."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopping or self._photos or self._batches or self._fresh_feed())
            if self._stopping:
                return None
            if self._photos:
                return partial(self._stylize, self._gather())
            feed = self._fresh_feed()
            if feed is not None and not (self._batches and self._live_streak >= LIVE_TURNS):
                self._live_streak += 1
                self._feeds.remove(feed)
                self._feeds.append(feed)  # round robin: the others go first next time
                return partial(self._paint, feed, feed.take(0))
            self._live_streak = 0
            return partial(self._stylize, [self._batches.popleft()])

    def _fresh_feed(self) -> Feed | None:
        return next((feed for feed in self._feeds if feed.fresh), None)

    def _gather(self) -> list[_Work]:
        """The next photo and up to ``photo_batch - 1`` more of its style and size (called holding the lock)."""
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
            out = self.engine.stylize(frames, style=live[0].style, stroke=live[0].stroke)
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

    def _paint(self, feed: Feed, frame: Captured | None) -> None:
        if frame is None:  # cannot happen: the feed was fresh and only this thread takes its frames
            return
        try:
            shown = feed.paint(self.engine, frame)
        except Exception as exc:  # the feed's session reports it and ends; the other feeds go on
            log.warning("live painting failed: %s", exc)
            feed.fail(exc)
            return
        feed.post(shown)
