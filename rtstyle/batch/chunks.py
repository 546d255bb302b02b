"""One chunk painted into its own H.264 file, and a video's chunk files joined without re-encoding.

Every chunk file is a complete MP4 written by :class:`~rtstyle.video.VideoWriter` with the same
encoder, settings and colour tags, each frame at its source timestamp less the chunk's first (in
the source stream's time base). The join shifts each chunk by its first frame's time in the video:
the result has exactly the source's frames at the source's times (a variable rate stays variable),
and decode timestamps counted afresh with the same delay throughout, so they increase across
every seam.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from rtstyle.batch.plan import Chunk, PaintSettings, VideoPlan
from rtstyle.colorspace import ColourTags, FrameConverter, output_tags
from rtstyle.engine import Engine, default_batch_size
from rtstyle.errors import InputError, OutputError
from rtstyle.pipeline import run_threaded, video_painter
from rtstyle.temporal import Stabilizer
from rtstyle.video import AudioTrack, TimedFrame, VideoWriter, decoded, has_frame_times

_FORMATS = {".mkv": "matroska", ".mov": "mov"}  # as VideoWriter: anything else is MP4


@dataclass(frozen=True)
class ChunkJob:
    """Paint ``chunk`` of ``source`` into the file ``target`` with ``encoder`` (a concrete one, not auto)."""

    source: Path
    target: Path
    chunk: Chunk
    fps: Fraction
    encoder: str


def paint_chunk(job: ChunkJob, engine: Engine, paint: PaintSettings) -> int:
    """Decode, paint and encode one chunk; returns the frames written (an :class:`InputError` when
    the source does not hold the frames the plan expects)."""
    chunk = job.chunk
    stabilizer = Stabilizer(paint.stabilize) if paint.stabilize else None
    batch_size = paint.batch_size or default_batch_size(engine.provider)
    warming = chunk.start - chunk.warm
    with av.open(str(job.source)) as container:  # every chunk of a video converts and tags alike
        codec = container.streams.video[0].codec_context
        colour = output_tags(ColourTags.of(codec), codec.height)
    stylize, _ = video_painter(engine, stabilizer, paint.preserve_colors, colour.matrix)
    with VideoWriter(job.target, job.fps, encoder=job.encoder, colour=colour) as writer:
        def write(frame: TimedFrame) -> None:
            nonlocal warming
            if warming:  # painted for the stabilizer's sake; the previous chunk wrote it
                warming -= 1
            else:
                writer.write(frame)

        run_threaded(chunk_frames(job.source, chunk, colour), stylize, write, batch_size=batch_size)
        if chunk.start_pts is not None and writer.frames_written != chunk.frames:
            raise InputError(f"{job.source}: frames {chunk.start}-{chunk.end - 1} decoded as "
                             f"{writer.frames_written} frames, not {chunk.frames} (corrupt)")
    return writer.frames_written


def chunk_frames(source: Path, chunk: Chunk, yuv: ColourTags | None = None) -> Iterator[TimedFrame]:
    """Frames ``warm`` to ``end - 1`` of ``source``, upright uint8 BGR (or I420 in the colour ``yuv``,
    :meth:`~rtstyle.video.VideoReader.timed`) with their timestamps, decoding from ``seek_pts``."""
    convert = FrameConverter()
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        timed = has_frame_times(container)
        if chunk.seek_pts is not None:
            container.seek(chunk.seek_pts, stream=stream, backward=True)
        first = True
        try:
            for frame in container.decode(stream):
                if chunk.warm_pts is not None:  # cut by timestamps (the one-chunk plan takes every frame)
                    if frame.pts is None:
                        raise InputError(f"{source}: a frame after frame {chunk.warm} has no timestamp")
                    if chunk.end_pts is not None and frame.pts >= chunk.end_pts:
                        return
                    if frame.pts < chunk.warm_pts:
                        continue  # decoded from the keyframe on, painted from the warm-up on
                    if first and frame.pts != chunk.warm_pts:
                        raise InputError(f"{source}: frame {chunk.warm} cannot be decoded from its keyframe")
                    first = False
                yield decoded(frame, convert, timed=timed, yuv=yuv)
        except av.FFmpegError as exc:
            raise InputError(f"{source}: the video is corrupt near frame {chunk.start} "
                             f"({exc.strerror or exc})") from exc


def join_chunks(plan: VideoPlan, parts: Sequence[Path]) -> float:
    """Remux ``parts`` (one file per chunk of ``plan``, in order) and the source's audio into
    ``plan.job.target``: written under a temporary name and renamed only when complete. Returns
    the video's duration in seconds."""
    target = plan.job.target
    partial = target.with_name(f".{target.stem}.partial{target.suffix or '.mp4'}")
    try:
        with av.open(str(partial), "w", format=_FORMATS.get(target.suffix.lower(), "mp4")) as out:
            with av.open(str(parts[0])) as first:
                template = first.streams.video[0]
                extradata = template.codec_context.extradata
                video = out.add_stream_from_template(template)
            audio = AudioTrack.open(plan.job.source, out, target.suffix.lower())
            clock = _DecodeClock(max(_decode_delay(part) for part in parts))
            try:
                times: list[Fraction] = []
                for chunk, part in zip(plan.chunks, parts, strict=True):
                    times += _remux(part, plan.offset(chunk), plan.fps, clock, video, out, audio, extradata)
                if audio:
                    audio.mux_until(None)
            finally:
                if audio:
                    audio.close()
        os.replace(partial, target)
        times.sort()  # the last frame lasts as long as the one before it, as VideoWriter.duration says
        return float(2 * times[-1] - times[-2] if len(times) > 1 else times[-1] + 1 / plan.fps)
    except av.FFmpegError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot join the chunks of {target}: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


class _DecodeClock:
    """Decode timestamps for a joined stream whose decoder holds up to ``delay`` frames: the
    ``k``-th packet decodes at the ``(k - delay)``-th presentation time (the smallest not yet
    used, which a stream with that delay has always seen by then), the first ``delay`` packets
    before the first frame, 1/fps apart (so the decode timeline is as long as the presentation
    one, and a constant rate reads back exact). x264 starts a clip shorter than
    its B-frame delay without one, so the chunks' own decode timestamps would step back (a muxer
    error) at a seam."""

    def __init__(self, delay: int):
        self.delay = delay
        self._seen: list[int] = []
        self._first: int | None = None
        self._step = 1
        self._count = 0

    def dts(self, pts: int, step: int) -> int:
        """``step``: 1/fps in the packets' time base."""
        heapq.heappush(self._seen, pts)
        if self._first is None:
            self._first, self._step = pts, max(1, step)
        self._count += 1
        if self._count <= self.delay:
            return self._first - (self.delay - self._count + 1) * self._step
        return heapq.heappop(self._seen)


def _remux(part: Path, offset: Fraction, fps: Fraction, clock: _DecodeClock, video: av.video.stream.VideoStream,
           out: av.container.OutputContainer, audio: AudioTrack | None, extradata: bytes | None
           ) -> list[Fraction]:
    """Mux ``part``'s packets ``offset`` seconds on, with the audio that plays up to each; returns
    their presentation times in seconds."""
    with av.open(str(part)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.extradata != extradata:
            raise OutputError(f"{part.name} was encoded with other settings than the first chunk")
        time_base = Fraction(stream.time_base or Fraction(1, 90000))  # MP4 always has one
        shift, step, times = round(offset / time_base), round(1 / (fps * time_base)), []
        for packet in (p for p in container.demux(stream) if p.size):
            if packet.pts is None:
                raise OutputError(f"{part.name}: a packet without a timestamp")
            packet.pts += shift
            packet.dts = clock.dts(packet.pts, step)
            packet.time_base, packet.stream = time_base, video
            times.append(packet.pts * time_base)
            if audio:
                audio.mux_until(packet.dts * time_base)
            out.mux(packet)
    return times


def _decode_delay(part: Path) -> int:
    """How many packets a chunk's decoder holds before the frame due next (its B-frame delay): the
    most that any packet comes before its place in presentation order."""
    with av.open(str(part)) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size and p.pts is not None]
    rank = {p: i for i, p in enumerate(sorted(pts))}
    return max((k - rank[p] for k, p in enumerate(pts)), default=0)
