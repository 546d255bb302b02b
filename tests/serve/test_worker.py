"""The studio's inference worker (rtstyle/serve/worker.py): photos ahead of video batches, its queue's
limit, and the live feeds it paints between them, each its newest frame only."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rtstyle.live import Captured, Feed, Look
from rtstyle.serve.worker import LIVE_TURNS, Worker

# --- photos and video batches ---------------------------------------------------------------------------


class GatedEngine:
    """Blocks its first call until released; records every call's batch size and kind."""

    provider = "CUDAExecutionProvider"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[tuple[int, int]] = []  # (frames, first pixel value)

    def stylize(self, frames: np.ndarray, style: str | None = None, **_: object) -> np.ndarray:
        if not self.calls:
            self.calls.append((len(frames), int(frames[0, 0, 0, 0])))
            self.gate.wait(5)
        else:
            self.calls.append((len(frames), int(frames[0, 0, 0, 0])))
        return 255 - frames


def test_worker_runs_photos_first_and_batches_them_by_size() -> None:
    engine = GatedEngine()
    with Worker(engine, queue_size=8, photo_batch=4) as worker:
        blocker = worker.frames(np.zeros((1, 8, 8, 3), np.uint8), "s")
        time.sleep(0.05)
        video = worker.frames(np.full((2, 8, 8, 3), 1, np.uint8), "s")
        photos = [worker.photo(np.full((8, 8, 3), 10 + i, np.uint8), "s") for i in range(3)]
        odd = worker.photo(np.full((4, 8, 3), 20, np.uint8), "s")
        engine.gate.set()
        results = [p.result(5) for p in photos]
        assert video.result(5).shape == (2, 8, 8, 3) and blocker.result(5) is not None and odd.result(5) is not None
    assert engine.calls == [(1, 0), (3, 10), (1, 20), (2, 1)]  # photos ahead, same-size ones together
    assert [int(r[0, 0, 0, 0]) for r in results] == [245, 244, 243]  # each its own result


def test_worker_refuses_photos_beyond_its_queue() -> None:
    from rtstyle.serve.errors import Busy

    engine = GatedEngine()
    with Worker(engine, queue_size=1, photo_batch=1) as worker:
        worker.photo(np.zeros((8, 8, 3), np.uint8), "s")
        time.sleep(0.05)  # the first is in the engine
        worker.photo(np.zeros((8, 8, 3), np.uint8), "s")
        with pytest.raises(Busy) as refused:
            worker.photo(np.zeros((8, 8, 3), np.uint8), "s")
        assert refused.value.status == 503 and refused.value.headers["Retry-After"]
        engine.gate.set()


# --- live feeds (no WebRTC) ------------------------------------------------------------


class CountingEngine:
    """Adds a constant per style after ``seconds``; logs which frame of which feed it painted."""

    provider = "CPUExecutionProvider"
    style_names = ["a", "b"]

    def __init__(self, seconds: float = 0.02):
        self.seconds = seconds
        self.painted: list[int] = []  # the first pixel's value, which the tests use as a frame id

    def stylize(self, frames: np.ndarray, style: str | None = None, **_: object) -> np.ndarray:
        time.sleep(self.seconds)
        self.painted.append(int(frames.reshape(-1)[0]))
        return frames + np.uint8(1)


def marked(value: int) -> Captured:
    return Captured(np.full((8, 8, 3), value, np.uint8), value, time.monotonic())


def test_a_feed_paints_only_its_newest_frame() -> None:
    engine = CountingEngine(seconds=0.05)
    with Worker(engine) as worker:
        feed = Feed(Look(style=0))
        worker.add_feed(feed)
        for value in range(10):  # a camera far faster than the engine
            worker.live(feed, marked(value))
            time.sleep(0.01)
        newest = feed.results.newer(0, timeout=2)
        deadline = time.monotonic() + 2
        while feed.results.peek() is None or feed.results.peek().index != 9:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"frame 9 never painted: {engine.painted}"
            time.sleep(0.01)
    assert newest is not None
    assert len(engine.painted) <= 4, f"stale frames were painted: {engine.painted}"
    assert engine.painted[-1] == 9


def test_feeds_take_turns_and_a_video_batch_is_not_starved() -> None:
    engine = CountingEngine(seconds=0.01)
    with Worker(engine) as worker:
        feeds = [Feed(Look(style=0)) for _ in range(2)]
        for feed in feeds:
            worker.add_feed(feed)
        stop = threading.Event()

        def cameras() -> None:  # both always have a new frame: feed 0 sends 1s, feed 1 sends 2s
            while not stop.is_set():
                for value, feed in enumerate(feeds, 1):
                    worker.live(feed, marked(value))
                time.sleep(0.001)

        thread = threading.Thread(target=cameras)
        thread.start()
        time.sleep(0.3)
        queued = len(engine.painted)
        worker.frames(np.full((1, 8, 8, 3), 7, np.uint8), "a").result(timeout=2)
        waited = len(engine.painted) - 1 - queued
        stop.set()
        thread.join()
        for feed in feeds:
            worker.remove_feed(feed)
    ones, twos = engine.painted.count(1), engine.painted.count(2)
    assert ones > 5 and abs(ones - twos) <= 2, engine.painted
    assert waited <= LIVE_TURNS + 1, f"the video batch waited for {waited} live frames"
