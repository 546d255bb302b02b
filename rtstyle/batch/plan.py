"""What a batch will do: which files, where they go, how each video is cut into chunks.

A chunk owns the frames ``[start, end)`` by index in presentation order, cut every so many
seconds of the frames' own timestamps (a variable-rate video is cut by time, not by an assumed
rate). Its worker decodes from
the keyframe at or before ``warm`` (= ``start`` minus the warm-up), paints the frames from
``warm`` on so the stabilizer has a past, and writes only ``[start, end)``. Cuts are placed a
warm-up after a keyframe where one is near, so decoding starts right where painting does and no
frame is decoded for nothing.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from rtstyle.engine import EngineConfig
from rtstyle.errors import InputError, OutputError, RtstyleError
from rtstyle.models import StyleInfo
from rtstyle.temporal import StabilizerConfig
from rtstyle.video import check_writable, has_frame_times

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".flv", ".wmv", ".3gp", ".ogv"}
KEPT_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}  # containers that hold H.264; other names become NAME.mp4
SEAM_TOLERANCE = 0.02  # the warm-up lasts until a cold start weighs less than this in the output


@dataclass(frozen=True)
class VideoJob:
    source: Path
    target: Path


@dataclass(frozen=True, kw_only=True)
class PaintSettings:
    """How every worker paints: the same for every chunk of every video (picklable, for Ray)."""

    styles: tuple[StyleInfo, ...]
    engine: EngineConfig
    batch_size: int | None = None  # None: 1 on a CPU, 8 on a GPU, as `rtstyle video`
    stabilize: StabilizerConfig | None = None
    preserve_colors: bool = False
    encoder: str = "auto"

    @property
    def warmup(self) -> int:
        """Frames painted before a chunk so that its first frame is blended as in an unbroken run.

        A cold stabilizer differs from a warm one by ``strength ** k`` after ``k`` frames (each
        frame keeps at most ``strength`` of the previous output): 8 frames at the default 0.6.
        """
        if self.stabilize is None or self.stabilize.strength == 0:
            return 0
        return math.ceil(math.log(SEAM_TOLERANCE) / math.log(self.stabilize.strength))


def find_videos(inputs: Sequence[str | Path], out: Path) -> list[VideoJob]:
    """Files as given and the videos in folders (by suffix, sorted), each with its output in ``out``."""
    sources: list[Path] = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise InputError(f"no videos in {given}")
            sources += found
        elif given.is_file():
            sources.append(given)
        else:
            raise InputError(f"input not found: {given}")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out is a file, not a folder: {out}")
    jobs = [VideoJob(s, out / target_name(s)) for s in sources]
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen:
            raise InputError(f"{seen[job.target]} and {job.source} would both be written to {job.target}")
        seen[job.target] = job.source
        if job.target.exists() and job.target.resolve() == job.source.resolve():
            raise OutputError(f"output would overwrite the input: {job.target}")
    return jobs


def target_name(source: Path) -> str:
    """The input's name; ``.mp4`` for containers that cannot hold H.264 (``clip.avi`` → ``clip.mp4``)."""
    return source.name if source.suffix.lower() in KEPT_SUFFIXES else f"{source.stem}.mp4"


def prepare_out(out: Path) -> None:
    """Create ``out`` (and its parents) and check that files can be written in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    check_writable(out / "probe.mp4")


def header_frames(path: Path) -> int:
    """The frame count the file's header gives (0 when it does not say or cannot be read): for
    progress bars, read before any video is painted."""
    try:
        with av.open(str(path)) as container:
            return container.streams.video[0].frames if container.streams.video else 0
    except av.FFmpegError:
        return 0


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start, end)`` of a video, painted from ``warm``; the pts (in the video stream's
    time base) of frame ``seek`` (a keyframe), ``warm``, ``start`` and ``end``. A pts of None:
    decode from the file's beginning (``seek_pts``) or to its end (``end_pts``), or, for a video
    whose packets have no timestamps, take every frame (the one-chunk plan)."""

    index: int
    start: int
    end: int
    warm: int
    seek_pts: int | None
    warm_pts: int | None
    start_pts: int | None
    end_pts: int | None

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class VideoPlan:
    """``time_base`` of the chunks' pts, None where frames are shown every 1/``fps`` (AVI, or a
    video without timestamps): the join places each chunk at its first frame's time."""

    job: VideoJob
    fps: Fraction
    frames: int
    chunks: tuple[Chunk, ...]
    time_base: Fraction | None = None

    def offset(self, chunk: Chunk) -> Fraction:
        """Seconds from the video's first frame to ``chunk``'s."""
        first = self.chunks[0].start_pts
        if self.time_base is None or chunk.start_pts is None or first is None:
            return chunk.start / self.fps
        return (chunk.start_pts - first) * self.time_base


@dataclass(frozen=True)
class _Timeline:
    """Every frame's pts in presentation order, which frames are keyframes (sorted indices), the
    pts' time base, and whether the pts say when frames are shown (see :func:`has_frame_times`)."""

    pts: list[int]
    keyframes: list[int]
    time_base: Fraction
    timed: bool


def plan_video(job: VideoJob, *, chunk_seconds: float, warmup: int) -> VideoPlan:
    """Cut ``job.source`` into chunks of about ``chunk_seconds`` (an :class:`InputError` when it is
    not a readable video); reads every video packet, not the pictures in them."""
    fps, header_frames, timeline = _scan(job.source)
    if timeline is None:  # no timestamps to cut by: one chunk of every decoded frame
        return VideoPlan(job, fps, header_frames, (Chunk(0, 0, header_frames, 0, None, None, None, None),))
    pts, frames = timeline.pts, len(timeline.pts)
    times = [(p - pts[0]) * timeline.time_base for p in pts] if timeline.timed else \
        [Fraction(i) / fps for i in range(frames)]
    chunks = []
    for index, (start, end) in enumerate(_cuts(timeline.keyframes, times, Fraction(chunk_seconds), warmup)):
        warm = max(0, start - warmup)
        seek = timeline.keyframes[max(0, bisect.bisect_right(timeline.keyframes, warm) - 1)]
        chunks.append(Chunk(index, start, end, warm, seek_pts=pts[seek] if seek else None, warm_pts=pts[warm],
                            start_pts=pts[start], end_pts=pts[end] if end < frames else None))
    return VideoPlan(job, fps, frames, tuple(chunks), timeline.time_base if timeline.timed else None)


def _cuts(keyframes: list[int], times: list[Fraction], seconds: Fraction, warmup: int) -> list[tuple[int, int]]:
    """``[start, end)`` pairs of frame indices, ``times`` being each frame's time: a cut at the
    first frame ``seconds`` after the last cut, moved up to half a chunk later to a keyframe plus
    the warm-up; the last chunk lasts up to one and a half chunks rather than leave a sliver (the
    last frame lasting as long as the one before it)."""
    frames = len(times)
    end = 2 * times[-1] - times[-2] if frames > 1 else times[-1] + seconds
    snaps = sorted(k + warmup for k in keyframes if k > 0)
    cuts = [0]
    while end - times[cuts[-1]] > seconds * 3 / 2:
        due = max(cuts[-1] + 1, bisect.bisect_left(times, times[cuts[-1]] + seconds))
        if due >= frames:  # a last frame that lasts long
            break
        late = bisect.bisect_left(times, times[cuts[-1]] + seconds * 3 / 2)
        i = bisect.bisect_left(snaps, due)
        near = i < len(snaps) and snaps[i] < min(late, frames)
        cuts.append(snaps[i] if near else due)
    return list(zip(cuts, [*cuts[1:], frames], strict=True))


def _scan(path: Path) -> tuple[Fraction, int, _Timeline | None]:
    """The rate, the frame count and the timeline of the first video stream."""
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError(f"not a video file: {path} ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"no video stream in {path}")
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise InputError(f"{path}: the video stream has no frame rate")
        pts, keys = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.pts is None:
                    return Fraction(fps), stream.frames, None
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.FFmpegError as exc:
            raise InputError(f"{path}: the video is corrupt after packet {len(pts)} ({exc.strerror or exc})") from exc
        # Read from the stream while the file is open: once closed, its fields are freed memory (a
        # time base read after closing came back as garbage now and then, and cut a 4-second clip
        # into 40 chunks joined 800 s apart).
        header_frames, time_base = stream.frames, stream.time_base
        exact = "mp4" in container.format.name and header_frames > 0
        timed = has_frame_times(container)
    if not pts:
        raise InputError(f"{path}: the video has no frames")
    if exact and len(pts) < header_frames:
        raise InputError(f"{path}: the video ended after {len(pts)} of {header_frames} frames (truncated or corrupt)")
    if len(set(pts)) < len(pts):
        return Fraction(fps), len(pts), None
    order = sorted(pts)
    index = {p: i for i, p in enumerate(order)}
    return Fraction(fps), len(pts), _Timeline(order, sorted({0, *(index[k] for k in keys)}),
                                              Fraction(time_base or 1), timed and bool(time_base))


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """``address``: ``local`` (start Ray on this machine), ``auto`` or ``ray://host:port`` (join one).
    ``workers`` None: as many as the cluster's CPUs or GPUs hold; ``gpus_per_worker`` None: one
    each where the cluster has GPUs (and the device is not the CPU), none otherwise."""

    address: str = "local"
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1.0
    chunk_seconds: float = 20.0


@dataclass(frozen=True)
class VideoResult:
    job: VideoJob
    frames: int
    seconds: float
    error: RtstyleError | None = None
    duration: float = 0.0  # of the video written, in seconds

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0
