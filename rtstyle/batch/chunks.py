"""One chunk painted into its own H.264 file, and a video's chunk files joined without re-encoding.

Every chunk file is a complete MP4 written by :class:`~rtstyle.video.VideoWriter` with the same
encoder and settings, its frames numbered from 0 at the video's rate. The join shifts each chunk's
timestamps by its first frame's index: the result has exactly the source's frame count and rate,
and the same decode delay throughout, so its timestamps increase across every seam.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rtstyle.batch.plan import Chunk, PaintSettings, VideoPlan
from rtstyle.engine import Engine, default_batch_size
from rtstyle.errors import InputError, OutputError
from rtstyle.pipeline import painter, run_threaded
from rtstyle.temporal import Stabilizer
from rtstyle.video import AudioTrack, VideoWriter, upright

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
    stylize = painter(engine, stabilizer, paint.preserve_colors)
    batch_size = paint.batch_size or default_batch_size(engine.provider)
    warming = chunk.start - chunk.warm
    with VideoWriter(job.target, job.fps, encoder=job.encoder) as writer:
        def write(frame: np.ndarray) -> None:
            nonlocal warming
            if warming:  # painted for the stabilizer's sake; the previous chunk wrote it
                warming -= 1
            else:
                writer.write(frame)

        run_threaded(chunk_frames(job.source, chunk), stylize, write, batch_size=batch_size)
        if chunk.start_pts is not None and writer.frames_written != chunk.frames:
            raise InputError(f"{job.source}: frames {chunk.start}-{chunk.end - 1} decoded as "
                             f"{writer.frames_written} frames, not {chunk.frames} (corrupt)")
    return writer.frames_written


def chunk_frames(source: Path, chunk: Chunk) -> Iterator[np.ndarray]:
    """Frames ``warm`` to ``end - 1`` of ``source``, upright uint8 BGR, decoding from ``seek_pts``."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
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
                yield upright(frame.to_ndarray(format="bgr24"), frame.rotation)
        except av.FFmpegError as exc:
            raise InputError(f"{source}: the video is corrupt near frame {chunk.start} "
                             f"({exc.strerror or exc})") from exc


def join_chunks(plan: VideoPlan, parts: Sequence[Path]) -> None:
    """Remux ``parts`` (one file per chunk of ``plan``, in order) and the source's audio into
    ``plan.job.target``: written under a temporary name and renamed only when complete."""
    target = plan.job.target
    partial = target.with_name(f".{target.stem}.partial{target.suffix or '.mp4'}")
    try:
        with av.open(str(partial), "w", format=_FORMATS.get(target.suffix.lower(), "mp4")) as out:
            with av.open(str(parts[0])) as first:
                template = first.streams.video[0]
                extradata = template.codec_context.extradata
                video = out.add_stream_from_template(template)
            audio = AudioTrack.open(plan.job.source, out, target.suffix.lower())
            delay = max(_decode_delay(part, plan.fps) for part in parts)
            try:
                for chunk, part in zip(plan.chunks, parts, strict=True):
                    _remux(part, chunk.start, plan.fps, delay, video, out, audio, extradata)
                if audio:
                    audio.mux_until(None)
            finally:
                if audio:
                    audio.close()
        os.replace(partial, target)
    except av.FFmpegError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot join the chunks of {target}: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _remux(part: Path, offset: int, fps: Fraction, delay: int, video: av.video.stream.VideoStream,
           out: av.container.OutputContainer, audio: AudioTrack | None, extradata: bytes | None) -> None:
    """Mux ``part``'s packets as frames ``offset`` on, with the audio that plays up to each.

    The decode timestamps are counted afresh, ``delay`` frames before the presentation ones: x264
    starts a clip shorter than its B-frame delay without one, which would leave a gap (a frame
    rate that is off) or a step back (a muxer error) at the seam."""
    frame_time = 1 / fps
    with av.open(str(part)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.extradata != extradata:
            raise OutputError(f"{part.name} was encoded with other settings than the first chunk")
        packets = (p for p in container.demux(stream) if p.size)
        for decoded, packet in enumerate(packets):
            if packet.pts is None:
                raise OutputError(f"{part.name}: a packet without a timestamp")
            packet.pts = offset + round(packet.pts * packet.time_base * fps)
            packet.dts = offset + decoded - delay
            packet.duration, packet.time_base, packet.stream = 1, frame_time, video
            if audio:
                audio.mux_until(packet.dts * frame_time)
            out.mux(packet)


def _decode_delay(part: Path, fps: Fraction) -> int:
    """Frames between a chunk's first decode and presentation timestamps (its B-frame delay)."""
    with av.open(str(part)) as container:
        first = next(p for p in container.demux(video=0) if p.size)
        if first.pts is None or first.dts is None:
            return 0
        return max(0, round((first.pts - first.dts) * first.time_base * fps))
