"""The frame's trip: ``source → batches → engine.stylize → sink``.

:func:`run_threaded` is the one pipeline for files. A *reader* thread pulls frames from the
source and groups them into batches on a bounded queue; the caller's thread stylizes each batch
(so Ctrl-C lands where inference runs, and the engine is only ever used from one thread); an
optional *finish* thread steadies each painted batch against flicker and brings it to full size
(CPU work) while the next one is painted, so two batches are in flight; a *writer* thread takes
stylized batches from a bounded queue and writes them frame by frame. Decoding and encoding thus
overlap inference, and memory stays bounded by the queues.

When any stage raises, a shared ``threading.Event`` tells the others to stop; every blocking
``put``/``get`` waits in short slices and checks it, so no thread stays blocked on a full or
empty queue (the deadlock that a plain ``join`` in ``finally`` causes). The first error is
raised in the caller.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import cv2
import numpy as np
from tqdm import tqdm

from rtstyle.color import finish, keep_colors
from rtstyle.colorspace import output_tags
from rtstyle.engine import default_batch_size
from rtstyle.errors import InputError, OutputError
from rtstyle.images import write_image
from rtstyle.strokes import enlarge_i420, i420_size, shrink_i420, working_size
from rtstyle.temporal import Stabilizer
from rtstyle.video import Stamp, TimedFrame, VideoReader, VideoWriter, check_writable

if TYPE_CHECKING:
    from rtstyle.engine import Engine

Finish = Callable[[np.ndarray, Any], np.ndarray]  # (batch, what stylize made of it) → the pictures to write
Refine = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (work, painted) → painted, at the working size


class VideoEngine(Protocol):
    """What :func:`stylize_video` needs of an engine (:class:`rtstyle.engine.Engine`, the studio's job queue)."""

    @property
    def provider(self) -> str: ...

    def stylize(self, frames: np.ndarray) -> np.ndarray: ...

    def stroke_size(self) -> float: ...


_POLL = 0.1  # seconds between checks of the stop flag while blocked on a queue
_DONE = object()  # end-of-stream marker


@dataclass(frozen=True)
class StageTimes:
    """Seconds each stage spent working (not waiting), for the per-stage report."""

    decode: float
    stylize: float
    encode: float
    stabilize: float | None = None  # the finish thread's, when the stabilizer has one (else it is in stylize)


@dataclass(frozen=True)
class RunResult:
    frames: int
    seconds: float
    times: StageTimes
    duration: float = 0.0  # of the video written, in seconds (0: not a video file)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class _Stopped(Exception):
    """Raised inside a stage when another stage has failed."""


class _Channel:
    """A bounded queue whose blocking calls give up when ``stop`` is set."""

    def __init__(self, size: int, stop: threading.Event):
        self._queue: queue.Queue[object] = queue.Queue(maxsize=size)
        self._stop = stop

    def put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue
        raise _Stopped

    def __iter__(self) -> Iterator[object]:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            yield item
        raise _Stopped


def batched(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Group frames into N×H×W×3 arrays of up to ``size`` (a new batch when the size changes)."""
    batch: list[np.ndarray] = []
    for frame in frames:
        if batch and (len(batch) == size or frame.shape != batch[0].shape):
            yield np.stack(batch)
            batch = []
        batch.append(frame)
    if batch:
        yield np.stack(batch)


_Batch = tuple[np.ndarray, tuple[Stamp | None, ...] | None]  # N×H×W×3 pictures, and their stamps if timed


def _timed_batches(frames: Iterable[np.ndarray | TimedFrame], size: int) -> Iterator[_Batch]:
    """:func:`batched` pictures, each batch with its frames' stamps (None for plain pictures)."""
    stamps: list[Stamp | None] = []
    timed = False

    def pictures() -> Iterator[np.ndarray]:
        nonlocal timed
        for frame in frames:
            if isinstance(frame, TimedFrame):
                timed = True
                stamps.append(frame.stamp)
                yield frame.image
            else:
                yield frame
    for batch in batched(pictures(), size):
        taken = tuple(stamps[:len(batch)])
        del stamps[:len(batch)]
        yield batch, taken if timed else None


def run_threaded(
    frames: Iterable[np.ndarray] | Iterable[TimedFrame],
    stylize: Callable[[np.ndarray], np.ndarray],
    write: Callable[[np.ndarray], None] | Callable[[TimedFrame], None],
    *,
    batch_size: int = 1,
    queue_batches: int = 4,
    on_frames: Callable[[int], None] | None = None,
    finish: Finish | None = None,
) -> RunResult:
    """Run the pipeline of the module docstring; returns how many frames were written. Frames
    given as :class:`TimedFrame` are written as one, the painted picture with the input's stamp.

    ``finish(batch, painted)``, when given, runs on its own thread in batch order (the stabilizer and the
    enlargement, :func:`video_painter`) and makes what is written of what ``stylize`` returned.
    """
    stop = threading.Event()
    errors: list[BaseException] = []
    to_stylize, to_write = _Channel(queue_batches, stop), _Channel(queue_batches, stop)
    to_finish = _Channel(1, stop) if finish else to_write  # one waiting, one being finished, one painted
    busy = {"decode": 0.0, "stylize": 0.0, "encode": 0.0, **({"stabilize": 0.0} if finish else {})}
    written = 0

    def guard(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except _Stopped:
                pass
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
                stop.set()
        return run

    def read() -> None:
        source = iter(_timed_batches(frames, batch_size))
        while True:
            start = time.perf_counter()
            batch = next(source, None)
            busy["decode"] += time.perf_counter() - start
            if batch is None:
                break
            to_stylize.put(batch)
        to_stylize.put(_DONE)

    def encode() -> None:
        nonlocal written
        for item in to_write:
            batch, stamps = cast(_Batch, item)
            start = time.perf_counter()
            for i, frame in enumerate(batch):
                write(frame if stamps is None else TimedFrame(frame, stamps[i]))  # type: ignore[arg-type]
            busy["encode"] += time.perf_counter() - start
            written += len(batch)  # type: ignore[arg-type]
            if on_frames:
                on_frames(len(batch))  # type: ignore[arg-type]

    def steady() -> None:
        for item in to_finish:
            batch, painted, stamps = cast("tuple[np.ndarray, np.ndarray, tuple[Stamp | None, ...] | None]", item)
            start = time.perf_counter()
            out = finish(batch, painted)  # type: ignore[misc]
            busy["stabilize"] += time.perf_counter() - start
            to_write.put((out, stamps))
        to_write.put(_DONE)

    threads = [threading.Thread(target=guard(read), name="rtstyle-decode", daemon=True),
               threading.Thread(target=guard(encode), name="rtstyle-encode", daemon=True)]
    if finish:
        threads.append(threading.Thread(target=guard(steady), name="rtstyle-finish", daemon=True))
    began = time.perf_counter()
    for t in threads:
        t.start()
    try:
        for item in to_stylize:
            batch, stamps = cast(_Batch, item)
            start = time.perf_counter()
            out = stylize(batch)
            busy["stylize"] += time.perf_counter() - start
            to_finish.put((batch, out, stamps) if finish else (out, stamps))
        to_finish.put(_DONE)
    except _Stopped:
        pass
    except BaseException:
        stop.set()
        raise
    finally:
        _join(threads, stop)
    if errors:
        raise errors[0]
    return RunResult(written, time.perf_counter() - began, StageTimes(**busy))


def _join(threads: list[threading.Thread], stop: threading.Event) -> None:
    """Wait for the stages; once stopped, none waits longer than a few poll intervals."""
    for t in threads:
        while t.is_alive():
            t.join(timeout=_POLL)
            if stop.is_set():
                t.join(timeout=2.0)
                break


def stylize_video(
    source: str | Path,
    target: str | Path,
    engine: VideoEngine,
    *,
    batch_size: int | None = None,
    stabilizer: Stabilizer | None = None,
    encoder: str = "auto",
    preserve_colors: bool = False,
    progress: bool = True,
    on_frames: Callable[[int], None] | None = None,
) -> RunResult:
    """Stylize every frame of ``source`` into ``target``, keeping every frame's time, the audio and
    the colour (tagged; HDR tone-mapped to SDR BT.709 by the reader).

    ``batch_size`` None: one frame at a time on a CPU, where batches are slower (their activations
    leave the caches: 65 fps at batch 1 against 34 at batch 4, fast network, 640x360), 8 on a GPU.
    ``on_frames(n)`` is called from the writer thread as every batch of ``n`` frames is written;
    an exception it raises stops the run like any other (the studio cancels jobs that way).
    """
    source, target = check_paths(source, target)
    on_gpu = engine.provider != "CPUExecutionProvider"
    if batch_size is None:
        batch_size = default_batch_size(engine.provider)
    with VideoReader(source) as reader:
        colour = output_tags(reader.info.colour, reader.info.height)
        writer = VideoWriter(target, reader.info.fps, audio_from=source, encoder=encoder, colour=colour)
        # On a GPU the stabilizer and the enlargement run on their own thread while the next batch is
        # painted (two batches in flight); on a CPU that thread would only take cores from onnxruntime's.
        paint, finish = video_painter(engine, stabilizer, preserve_colors, colour.matrix, finish_apart=on_gpu)
        total = reader.info.frame_count or None
        with writer, tqdm(total=total, unit="frame", disable=not progress, desc=target.name, leave=False) as bar:
            def written(n: int) -> None:
                bar.update(n)
                if on_frames is not None:
                    on_frames(n)
            result = run_threaded(reader.timed(yuv=colour), paint, writer.write, batch_size=batch_size,
                                  on_frames=written, finish=finish)
    return dataclasses.replace(result, duration=writer.duration)


def video_painter(engine: VideoEngine, stabilizer: Stabilizer | None, preserve_colors: bool, matrix: int, *,
                  finish_apart: bool = False) -> tuple[Callable[[np.ndarray], Any], Finish | None]:
    """An I420 batch's trip (frames as the decoder gives them and the encoder takes them, colour
    ``matrix``, :meth:`VideoReader.timed`): shrunk to the working size as BGR, painted, its colours
    kept and steadied against flicker there, and its difference from the frames added to their Y, U
    and V planes (:func:`~rtstyle.strokes.enlarge_i420`): no full-size BGR picture is made.

    Returns ``(paint, None)``, or with ``finish_apart`` ``(paint, finish)``: painting, and
    ``finish(batch, painted)`` doing the rest, for :func:`run_threaded`'s finish thread.
    """
    refine = refiner(stabilizer, preserve_colors)

    def paint(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        work = shrink_i420(batch, working_size(*i420_size(batch), engine.stroke_size()), matrix)
        return work, engine.stylize(work)

    def finish(batch: np.ndarray, painted: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        work, out = painted
        return enlarge_i420(out if refine is None else refine(work, out), work, batch, matrix)

    if finish_apart:
        return paint, finish
    return lambda batch: finish(batch, paint(batch)), None


def refiner(stabilizer: Stabilizer | None, preserve_colors: bool) -> Refine | None:
    """``refine(work, painted)`` at the working size: colours kept, then steadied; None when neither."""
    if stabilizer is None and not preserve_colors:
        return None

    def refine(work: np.ndarray, out: np.ndarray) -> np.ndarray:
        if preserve_colors:
            out = keep_colors(work, out)
        if stabilizer is not None:
            out = np.stack([stabilizer.process(f, o) for f, o in zip(work, out, strict=True)])
        return out
    return refine


def check_paths(source: str | Path, target: str | Path) -> tuple[Path, Path]:
    """Cheap checks worth making before loading any model."""
    source, target = Path(source), Path(target)
    if not source.exists():
        raise InputError(f"input not found: {source}")
    check_writable(target)
    if target.exists() and target.resolve() == source.resolve():
        raise OutputError(f"output would overwrite the input: {target}")
    return source, target


def stylize_image_file(source: Path, target: Path, engine: Engine, *, preserve_colors: bool = False) -> None:
    """One still: any format OpenCV reads in, the format of ``target``'s suffix out."""
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"not an image OpenCV can read: {source}")
    check_writable(target)
    painted = finish(image, engine.stylize(image), preserve_colors=preserve_colors)
    write_image(target, painted)
