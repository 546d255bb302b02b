"""The threaded pipeline: order kept, and an error in any stage stops all of them, no hang."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from rtstyle.pipeline import batched, run_threaded


class Boom(RuntimeError):
    pass


def _frames(n: int | None = None, shape: tuple[int, int] = (4, 6)) -> Iterator[np.ndarray]:
    counter = itertools.count() if n is None else range(n)
    for i in counter:
        yield np.full((*shape, 3), i % 256, np.uint8)


def test_every_frame_arrives_in_order() -> None:
    written: list[int] = []
    result = run_threaded(_frames(23), lambda b: b + 1, lambda f: written.append(int(f[0, 0, 0])), batch_size=4)
    assert result.frames == 23 and written == [i + 1 for i in range(23)]


def test_batches_split_when_the_size_changes() -> None:
    frames = [np.zeros((2, 2, 3), np.uint8)] * 3 + [np.zeros((4, 2, 3), np.uint8)] * 2
    assert [b.shape for b in batched(frames, 2)] == [(2, 2, 2, 3), (1, 2, 2, 3), (2, 4, 2, 3)]


def _slow_write(f: np.ndarray) -> None:
    time.sleep(0.001)


def _raise_after(n: int):
    count = itertools.count()

    def stage(x):
        if next(count) >= n:
            raise Boom("stage failed")
        return x
    return stage


def _failing_source() -> Iterator[np.ndarray]:
    yield from _frames(5)
    raise Boom("decoder failed")


STAGES = {  # which stage raises; the source is endless unless the source itself fails
    "decode": dict(frames=_failing_source, stylize=lambda b: b, write=_slow_write),
    "stylize": dict(frames=lambda: _frames(None), stylize=_raise_after(3), write=_slow_write),
    "encode": dict(frames=lambda: _frames(None), stylize=lambda b: b, write=_raise_after(7)),
}


@pytest.mark.parametrize("stage", STAGES)
def test_an_error_in_any_stage_surfaces_once_without_hanging(stage: str) -> None:
    parts = STAGES[stage]
    before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(Boom):
        run_threaded(parts["frames"](), parts["stylize"], parts["write"], batch_size=2, queue_batches=2)
    assert time.monotonic() - started < 10  # a deadlock would hang here forever
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # every stage thread has ended


def test_finish_runs_on_the_next_batch_s_time_in_order() -> None:
    """Two batches in flight: batch 1 is painted while batch 0 is being finished (the stabilizer)."""
    painting_second = threading.Event()
    overlapped: list[bool] = []

    def stylize(batch: np.ndarray) -> np.ndarray:
        if batch[0, 0, 0, 0] == 2:  # the second batch of two frames
            painting_second.set()
        return batch + 1

    def finish(batch: np.ndarray, painted: np.ndarray) -> np.ndarray:
        if not overlapped:
            overlapped.append(painting_second.wait(timeout=5))  # never set when run one after the other
        assert np.array_equal(painted, batch + 1)
        return painted * 2

    written: list[int] = []
    result = run_threaded(_frames(9), stylize, lambda f: written.append(int(f[0, 0, 0])), batch_size=2,
                          finish=finish)
    assert overlapped == [True]
    assert result.frames == 9 and written == [(i + 1) * 2 for i in range(9)]
    assert result.times.stabilize > 0


def test_an_error_in_finish_surfaces_without_hanging() -> None:
    before = threading.active_count()
    with pytest.raises(Boom):
        run_threaded(_frames(60), lambda b: b, _slow_write, batch_size=2, queue_batches=2,
                     finish=lambda b, p: _raise_after(3)(p) if b[0, 0, 0, 0] < 10 else _raise_after(0)(p))
    time.sleep(0.5)
    assert threading.active_count() == before


def test_the_finish_thread_paints_what_one_step_did() -> None:
    """A GPU's way (the stabilizer and the enlargement on run_threaded's finish thread, beside the next
    batch's painting) writes exactly what a CPU's way (all in one step) writes."""
    from types import SimpleNamespace

    from rtstyle.colorspace import SMPTE170M
    from rtstyle.pipeline import video_painter
    from rtstyle.strokes import bgr_to_i420
    from rtstyle.synthetic import scene
    from rtstyle.temporal import Stabilizer

    frames = [bgr_to_i420(scene(i * 3, 320, 180)[None], SMPTE170M)[0] for i in range(7)]
    # Painted at stroke size 4 (120x120's area): the enlargement adds the frames' detail back.
    engine = SimpleNamespace(stylize=lambda b: 255 - b, stroke_size=lambda: 4.0)
    one_step, _ = video_painter(engine, Stabilizer(), False, SMPTE170M)  # type: ignore[arg-type]
    paint, finish = video_painter(engine, Stabilizer(), False, SMPTE170M, finish_apart=True)  # type: ignore[arg-type]
    inside: list[np.ndarray] = []
    beside: list[np.ndarray] = []
    run_threaded(iter(frames), one_step, inside.append, batch_size=3)
    run_threaded(iter(frames), paint, beside.append, batch_size=3, finish=finish)
    assert len(inside) == len(beside) == 7
    for a, b, frame in zip(inside, beside, frames, strict=True):
        assert a.shape == frame.shape and np.abs(a.astype(int) - frame).mean() > 20  # painted, at full size
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_in_inference_stops_the_other_stages() -> None:
    def interrupt(batch: np.ndarray) -> np.ndarray:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_threaded(_frames(None), interrupt, _slow_write, batch_size=2, queue_batches=2)
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name.startswith("rtstyle-")]


@pytest.mark.parametrize("command", ["image", "video"])
def test_preserve_colors_keeps_the_input_colours(command: str, tiny_models: list[str], clip, tmp_path) -> None:
    import av
    import cv2

    from rtstyle.cli import main
    from rtstyle.synthetic import scene

    if command == "image":
        source, target = tmp_path / "in.png", tmp_path / "out.png"
        cv2.imwrite(str(source), scene(2, 96, 64))
    else:
        source, target = clip("in.mp4", width=96, height=64, frames=3, audio=False), tmp_path / "out.mp4"

    def first_frame(path) -> np.ndarray:
        if command == "image":
            return cv2.imread(str(path))
        with av.open(str(path)) as f:
            return next(f.decode(video=0)).to_ndarray(format="bgr24")

    def chroma_gap(*extra: str) -> float:
        assert main([command, str(source), str(target), "--style", "tiny_b", "--quiet", *extra]) == 0
        ycc = [cv2.cvtColor(first_frame(p), cv2.COLOR_BGR2YCrCb).astype(int) for p in (source, target)]
        return float(np.abs(ycc[0][..., 1:] - ycc[1][..., 1:]).mean())

    assert chroma_gap() > 10 and chroma_gap("--preserve-colors") < 3
