"""Video files through PyAV: a lossless frame source and an H.264 sink that keeps the audio."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from rtstyle.colorspace import BT470BG, SMPTE170M, ColourTags, FrameConverter, bgr_to_yuv, output_tags, tag
from rtstyle.errors import InputError, OutputError
from rtstyle.strokes import i420_size, join_planes, planes

log = logging.getLogger(__name__)

# Audio codecs an MP4/MOV file can carry as they are; anything else is re-encoded to AAC.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
_COPY_AUDIO = {".mp4": _MP4_AUDIO, ".m4v": _MP4_AUDIO, ".mov": _MP4_AUDIO | {"pcm_s16le", "pcm_s24le"},
               ".mkv": None, ".webm": {"opus", "vorbis"}}  # None: any codec


@dataclass(frozen=True)
class VideoInfo:
    """What the first video stream of a file says about itself (coded size, before rotation)."""

    width: int
    height: int
    fps: Fraction
    frame_count: int  # from the header; 0 when the container does not say
    has_audio: bool
    time_base: Fraction = Fraction(0)  # of the stream's timestamps (0: unknown)
    colour: ColourTags = ColourTags()


@dataclass(frozen=True)
class Stamp:
    """When a frame is shown: ``pts`` ticks of ``time_base`` seconds, as its input stream said."""

    pts: int
    time_base: Fraction

    @property
    def seconds(self) -> Fraction:
        return self.pts * self.time_base


@dataclass(frozen=True)
class TimedFrame:
    """A uint8 BGR H×W×3 picture and its presentation time (None: the file gave none)."""

    image: np.ndarray
    stamp: Stamp | None


class VideoReader:
    """Decodes every frame of a file, in order, as uint8 BGR H×W×3 (a lossless source).

    Each frame's display rotation is applied to its pixels, so what comes out is upright; its
    colour is converted with its own matrix and range, and HDR (HLG or PQ) is tone-mapped to SDR
    BT.709 (:mod:`rtstyle.colorspace`). Iterating gives the pictures; :meth:`timed` gives them
    with their timestamps.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"input not found: {self.path}")
        try:
            self._container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise InputError(f"not a video file: {self.path} ({exc.strerror or exc})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"no video stream in {self.path}")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame and slice threads in the decoder
        self.info = self._read_info()
        self._convert = FrameConverter()
        self._timed = has_frame_times(self._container)
        # MP4/MOV sample tables give the exact frame count; AVI and others only estimate it.
        self._exact_count = "mp4" in self._container.format.name and self.info.frame_count > 0

    def _read_info(self) -> VideoInfo:
        s = self._stream
        fps = s.average_rate or s.guessed_rate or s.base_rate
        if not fps:
            raise InputError(f"{self.path}: the video stream has no frame rate")
        return VideoInfo(width=s.codec_context.width, height=s.codec_context.height, fps=Fraction(fps),
                         frame_count=s.frames or 0, has_audio=bool(self._container.streams.audio),
                         time_base=Fraction(s.time_base or 0), colour=ColourTags.of(s.codec_context))

    def __iter__(self) -> Iterator[np.ndarray]:
        return (frame.image for frame in self.timed())

    def timed(self, yuv: ColourTags | None = None) -> Iterator[TimedFrame]:
        """The frames with their timestamps: uint8 BGR pictures, or with ``yuv`` (an output's tags, as
        :func:`~rtstyle.colorspace.output_tags` gives them) I420 pictures in that colour, for
        :func:`~rtstyle.strokes.shrink_i420` and a :class:`VideoWriter` of the same tags. Frames
        already in it are taken as they are (no conversion at full size); others (HDR, full range,
        another matrix, odd sides) go through BGR."""
        count = 0
        try:
            for frame in self._container.decode(self._stream):
                if count == 0 and ColourTags.of(frame).hdr:
                    log.warning("%s is HDR (%s): tone-mapped to SDR BT.709 before painting", self.path.name,
                                ColourTags.of(frame).describe())
                yield decoded(frame, self._convert, timed=self._timed, yuv=yuv)
                count += 1
        except av.FFmpegError as exc:
            raise InputError(f"{self.path}: the video is corrupt after frame {count} ({exc.strerror or exc})") from exc
        if count == 0:
            raise InputError(f"{self.path}: the video has no frames")
        if self._exact_count and count < self.info.frame_count:
            raise InputError(f"{self.path}: the video ended after {count} of {self.info.frame_count} frames "
                             "(truncated or corrupt)")

    def duration_seconds(self) -> float:
        """The video's length from the header: its frame count over its rate, else the container's."""
        if self.info.frame_count:
            return self.info.frame_count / float(self.info.fps)
        s = self._stream
        if s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base)
        return (self._container.duration or 0) / av.time_base

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bgr_image(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as uint8 BGR H×W×3, converted by OpenCV where it can: PyAV builds a fresh
    swscale context, thread pool and all, for every new frame (a camera frame in the studio: 1.4 ms
    on the event loop, 30 times a second; 0.2 ms here). The way back is :func:`yuv_frame`."""
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        return frame.to_ndarray(format="bgr24")
    return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)


def yuv_frame(image: np.ndarray) -> av.VideoFrame:
    """A uint8 BGR picture as the yuv420p frame encoders take as it is. OpenCV converts it: PyAV
    would reformat each new frame with a fresh swscale context (x264 at 640x360: 4.3-5.0 ms a frame
    from BGR, 3.6-3.7 from this; aiortc's VP8 encoder likewise)."""
    h, w = image.shape[:2]
    if h % 2 or w % 2:  # I420 halves both sides; PyAV copes with odd ones
        return av.VideoFrame.from_ndarray(image, format="bgr24")
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")


def has_frame_times(container: av.container.InputContainer) -> bool:
    """Whether the frames' timestamps say when each is shown. AVI has no presentation times: a frame
    lasts 1/fps, and the timestamps FFmpeg derives from its index can skip where an encoder's
    B-frame delay left an empty slot (frame 1 of an MPEG-4 clip at 2/15 s)."""
    return container.format.name != "avi"


def decoded(frame: av.VideoFrame, convert: FrameConverter, *, timed: bool = True,
            yuv: ColourTags | None = None) -> TimedFrame:
    """A decoded frame as an upright BGR picture (or I420 in the colour ``yuv``, see
    :meth:`VideoReader.timed`) with its timestamp (read before converting)."""
    pts, time_base = frame.pts, frame.time_base
    stamp = Stamp(pts, Fraction(time_base)) if timed and pts is not None and time_base else None
    if yuv is None:
        return TimedFrame(upright(convert(frame), frame.rotation), stamp)
    return TimedFrame(upright_i420(convert.i420(frame, yuv), frame.rotation), stamp)


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Apply a display matrix's rotation (degrees counter-clockwise, as PyAV reports it)."""
    quarter_turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=quarter_turns)) if quarter_turns else image


def upright_i420(picture: np.ndarray, rotation: float) -> np.ndarray:
    """:func:`upright` for an I420 picture: each plane turned on its own."""
    if not round(rotation / 90) % 4:
        return picture
    return join_planes(*(upright(p, rotation) for p in planes(picture)))


class VideoWriter:
    """H.264 (yuv420p), with the audio of ``audio_from`` kept.

    Frames written with a :class:`Stamp` keep it: the stream takes the first stamp's time base and
    every frame its own time (minus the first frame's, so the video starts at 0): a constant rate
    stays exact and a variable one stays variable. Frames without one are shown every 1/``fps``.
    The pixels are converted with, and the stream tagged as, ``colour`` (default: BT.709 for HD,
    BT.601 below; :func:`~rtstyle.colorspace.output_tags`).

    ``encoder="auto"`` uses NVIDIA's NVENC (h264_nvenc) where it opens, libx264 otherwise.

    Audio is copied packet for packet where the output container can hold its codec and
    re-encoded to AAC otherwise, interleaved with the video as frames arrive. The file is
    written beside ``path`` under a temporary name and renamed only by a clean ``close``: a
    failed or interrupted run leaves no broken output. Odd sizes are padded to even by
    repeating the last row or column (yuv420p needs even sizes).
    """

    def __init__(self, path: str | Path, fps: Fraction, *, audio_from: str | Path | None = None,
                 encoder: str = "auto", quality: int = 18, colour: ColourTags | None = None):
        self.path = Path(path)
        check_writable(self.path)
        self.fps = Fraction(fps)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        self._audio_from = Path(audio_from) if audio_from else None
        self.encoder = encoder
        self.quality = quality
        self._container: av.container.OutputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._audio: AudioTrack | None = None
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self.colour = colour
        self.time_base = 1 / self.fps  # of the output's timestamps: the first stamp's, if any
        self._origin: Fraction | None = None  # the first frame's time in the input
        self._last_pts = -1
        self._step = 0  # between the last two frames
        self._sws = VideoReformatter()

    def write(self, frame: np.ndarray | TimedFrame) -> None:
        """Append one uint8 BGR H×W×3 picture, shown 1/fps after the previous one, or a
        :class:`TimedFrame`, shown at its stamp; the first frame fixes the size and the time base.
        A picture may also be I420, (H·3/2)×W, already in the writer's ``colour``."""
        image, stamp = (frame.image, frame.stamp) if isinstance(frame, TimedFrame) else (frame, None)
        height, width = i420_size(image) if image.ndim == 2 else image.shape[:2]
        if self._container is None:
            self._open(width, height, stamp)
        if (height, width) != (self.size[1], self.size[0]):  # type: ignore[index]
            raise OutputError(f"frame size changed from {self.size} to {(width, height)}")
        if image.ndim == 2:  # I420 in the writer's colour (VideoReader.timed's yuv)
            picture = av.VideoFrame.from_ndarray(image, format="yuv420p")
            tag(picture, self.colour)  # type: ignore[arg-type]
        else:
            if height % 2 or width % 2:
                image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
            picture = self._yuv(image)
        pts = self._pts(stamp)
        self._step, self._last_pts = pts - self._last_pts, pts
        picture.pts = pts
        if self._audio:
            self._audio.mux_until(pts * self.time_base)
        self._container.mux(self._video.encode(picture))  # type: ignore[union-attr]
        self.frames_written += 1

    def _pts(self, stamp: Stamp | None) -> int:
        """The output timestamp: the stamp's time since the first frame's, always after the last one."""
        if stamp is None:
            return self._last_pts + max(1, round(1 / (self.fps * self.time_base)))
        if self._origin is None:
            self._origin = stamp.seconds
        return max(self._last_pts + 1, round((stamp.seconds - self._origin) / self.time_base))

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last one, shown as long as the one before
        it (1/fps for a single frame)."""
        if self.frames_written < 2:
            return float(self.frames_written / self.fps)
        return float((self._last_pts + self._step) * self.time_base)

    def _yuv(self, image: np.ndarray) -> av.VideoFrame:
        if self.colour.matrix in (BT470BG, SMPTE170M):  # type: ignore[union-attr]
            frame = yuv_frame(image)  # OpenCV's I420 is BT.601, limited range
            tag(frame, self.colour)  # type: ignore[arg-type]
            return frame
        return bgr_to_yuv(self._sws, image, self.colour)  # type: ignore[arg-type]

    def _open(self, width: int, height: int, stamp: Stamp | None) -> None:
        self.size = (width, height)
        self.colour = self.colour or output_tags(ColourTags(), height)
        if stamp is not None:
            self.time_base = stamp.time_base
        fmt = {".mkv": "matroska", ".mov": "mov", ".webm": "webm"}.get(self.path.suffix.lower(), "mp4")
        try:
            self._container = av.open(str(self.partial), mode="w", format=fmt)
        except av.FFmpegError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        size = (width + width % 2, height + height % 2)
        self.encoder = pick_encoder(self.encoder, size, self.fps)
        options = _ENCODER_OPTIONS[self.encoder](self.quality)
        if self.encoder == "libx264":
            options["preset"] = x264_preset(*size)
        self._video = self._container.add_stream(self.encoder, rate=self.fps, options=options)
        self._video.width, self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._video.codec_context.time_base = self._video.time_base = self.time_base
        tag(self._video.codec_context, self.colour)
        if self._audio_from:
            self._audio = AudioTrack.open(self._audio_from, self._container, self.path.suffix.lower())

    def close(self) -> None:
        """Flush the encoders, close the file and give it its final name."""
        if self._container is None:
            raise OutputError(f"no frames to write to {self.path}")
        self._container.mux(self._video.encode(None))  # type: ignore[union-attr]
        if self._audio:
            self._audio.mux_until(None)
            self._audio.close()
        self._container.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Close without keeping anything."""
        try:
            if self._audio:
                self._audio.close()
            if self._container is not None:
                self._container.close()
        except av.FFmpegError:
            log.debug("error while closing an aborted output", exc_info=True)
        finally:
            self.partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def x264_preset(width: int, height: int) -> str:
    """x264's speed for painted frames, which are all texture: up to 720p ``veryfast`` (2.2x the
    speed of ``fast`` for 1.7x the size: 25 against 55 ms a 1080p frame on two cores, 94 against 54
    KiB at CRF 20), above it ``superfast``, so that encoding keeps up with painting: at 4K 4.7x
    ``fast``'s speed for 1.9x the size (73 against 346 ms, 269 against 140 KiB); at 1080p, end to
    end on two cores, 16.0-16.1 fps against veryfast's 14.1-15.4 for 4.5 % more bytes (115 against
    110 KiB a frame at CRF 18; benchmarks/video_speed.py, docs/benchmarks.md)."""
    return "veryfast" if width * height <= 1280 * 720 else "superfast"


_ENCODER_OPTIONS = {  # quality: x264's CRF scale (lower is better); NVENC's constant quality is close to it
    "libx264": lambda q: {"crf": str(q), "preset": "veryfast"},
    # b=0: with cq, NVENC would otherwise also cap the rate at FFmpeg's default 2 Mb/s and lose quality
    "h264_nvenc": lambda q: {"rc": "vbr", "cq": str(q), "b": "0", "preset": "p4"},
}


def pick_encoder(choice: str, size: tuple[int, int], fps: Fraction) -> str:
    """``auto``: h264_nvenc where an NVIDIA driver is present and the encoder opens, else libx264."""
    from rtstyle.engine import nvidia_driver_present

    if choice not in ("auto", *_ENCODER_OPTIONS):
        raise OutputError(f"unknown encoder {choice!r} (choose auto, {', '.join(_ENCODER_OPTIONS)})")
    candidates = ["h264_nvenc", "libx264"] if choice == "auto" and nvidia_driver_present() else \
        ["libx264"] if choice == "auto" else [choice]
    for name in candidates:
        try:
            probe = av.CodecContext.create(name, "w")
            probe.width, probe.height, probe.pix_fmt, probe.time_base = *size, "yuv420p", 1 / Fraction(fps)
            probe.open()
            return name
        except av.FFmpegError as exc:
            log.info("encoder %s unusable here: %s", name, exc)
    if choice == "h264_nvenc" and nvidia_driver_present():
        raise OutputError("the h264_nvenc encoder cannot open here: this NVIDIA GPU has no video encoder (compute "
                          "GPUs such as the H100 and A100 have no NVENC) or its driver cannot open one; "
                          "use --encoder libx264")
    raise OutputError(f"the {choice} encoder cannot open here (an NVIDIA GPU and driver are needed for NVENC)")


class AudioTrack:
    """The audio streams of an input file, muxed into an output up to a given time."""

    def __init__(self, source: av.container.InputContainer,
                 pairs: list[tuple[av.stream.Stream, av.stream.Stream, bool]], output: av.container.OutputContainer):
        self._source = source
        self._pairs = {inp.index: (out, copy) for inp, out, copy in pairs}
        self._output = output
        self._packets = source.demux([inp for inp, _, _ in pairs])
        self._pending: av.Packet | None = None
        self._samples: dict[int, int] = {}
        self._resamplers = {inp.index: av.AudioResampler(format="fltp", layout=out.layout, rate=inp.rate)
                            for inp, out, copy in pairs if not copy}

    @classmethod
    def open(cls, path: Path, output: av.container.OutputContainer, suffix: str) -> AudioTrack | None:
        source = av.open(str(path))
        if not source.streams.audio:
            source.close()
            return None
        allowed = _COPY_AUDIO.get(suffix, _MP4_AUDIO)
        pairs = []
        for inp in source.streams.audio:
            if allowed is None or inp.codec_context.codec.canonical_name in allowed:
                pairs.append((inp, output.add_stream_from_template(inp), True))
            else:
                # AAC needs a named layout; "2 channels" (unspecified order) becomes stereo.
                out = output.add_stream("aac", rate=inp.rate, layout=_named_layout(inp.layout))
                pairs.append((inp, out, False))
        return cls(source, pairs, output)

    def mux_until(self, seconds: Fraction | None) -> None:
        """Mux every audio packet that starts before ``seconds`` (``None``: all that is left)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                break
            if packet.dts is None and packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if seconds is not None and packet.pts is not None and packet.pts * packet.time_base > seconds + 1:
                self._pending = packet
                return
            self._mux(packet)
        self._flush()

    def _flush(self) -> None:
        """After the last packet: drain the resamplers and AAC encoders, once."""
        for index, resampler in self._resamplers.items():
            out = self._pairs[index][0]
            for frame in resampler.resample(None):
                self._encode(out, frame)
            self._encode(out, None)
        self._resamplers = {}

    def _mux(self, packet: av.Packet) -> None:
        out, copy = self._pairs[packet.stream.index]
        if copy:
            packet.stream = out
            self._output.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self._resamplers[packet.stream.index].resample(frame):
                self._encode(out, resampled)

    def _encode(self, out: av.audio.stream.AudioStream, frame: av.AudioFrame | None) -> None:
        if frame is not None:  # count samples: the source's own timestamps may not fit AAC's
            frame.pts, frame.time_base = self._samples.get(out.index, 0), Fraction(1, frame.sample_rate)
            self._samples[out.index] = frame.pts + frame.samples
        self._output.mux(out.encode(frame))

    def close(self) -> None:
        self._source.close()


_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(layout: av.AudioLayout) -> av.AudioLayout:
    if "channels" not in layout.name:
        return layout
    return av.AudioLayout(_DEFAULT_LAYOUTS.get(len(layout.channels), "stereo"))


def check_writable(path: Path) -> None:
    """Fail early, with one line, when ``path`` cannot be created."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")
    if path.is_dir():
        raise OutputError(f"output is a folder, not a file: {path}")
