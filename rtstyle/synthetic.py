"""A synthetic scene with a sound track: the built-in demo input and the tests' clips."""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


@functools.lru_cache(maxsize=8)
def _texture(height: int, width: int) -> np.ndarray:
    """Fractal noise H×W in about [-1, 1]: clouds and grass for the networks to paint
    (a perfectly smooth picture gives them nothing to work with)."""
    rng = np.random.default_rng(7)
    total = np.zeros((height, width), np.float32)
    for octave in range(1, 6):
        cells = 2 ** (octave + 1)
        coarse = rng.standard_normal((cells, cells * 2)).astype(np.float32)
        total += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) / octave
    return total / np.abs(total).max()


HILLS = (((70, 140, 60), 0.55), ((40, 100, 40), 0.7), ((150, 110, 40), 0.85))  # colour, mean height


@functools.lru_cache(maxsize=8)
def _still_layers(height: int, width: int) -> tuple[np.ndarray, ...]:
    """What does not move, rendered once per size: the sky with clouds and sun, then each hill's
    grassy colour over the whole frame (uint8, read-only); a frame only cuts the hills' outlines."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([235, 170, 90], np.float32) + y * np.array([200, 220, 250], np.float32)
    clouds = np.clip(_texture(height, width), 0, 1)[..., None] * 90
    image = np.broadcast_to(sky, (height, width, 3)) + clouds
    s = max(1, min(width, height) // 8)
    cv2.circle(image, (int(width * 0.78), int(height * 0.25)), s, (90, 200, 255), -1, cv2.LINE_AA)
    layers = [image]
    noise = _texture(height, width)
    for k, (colour, _) in enumerate(HILLS):
        grass = 1 + 0.35 * (noise[::-1] if k % 2 else noise[:, ::-1])[..., None]
        layers.append(np.array(colour, np.float32) * grass)
    layers = [np.clip(layer, 0, 255).astype(np.uint8) for layer in layers]
    for layer in layers:
        layer.flags.writeable = False
    return tuple(layers)


def scene(index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of a landscape: cloudy sky, sun, grassy rolling hills, a sailing boat; uint8 BGR.

    Cheap enough (about 4 ms at 640×360, against 16 ms drawing everything) that the synthetic
    camera leaves the CPU to the network."""
    sky, *hills = _still_layers(height, width)
    image = sky.copy()
    x = np.arange(width)
    rows = np.arange(height)[:, None]
    for k, (layer, (_, base)) in enumerate(zip(hills, HILLS, strict=True)):
        ridge = height * (base + 0.05 * np.sin(x / width * (6 + 3 * k) + index * 0.02 * (k + 1)))
        np.copyto(image, layer, where=(rows >= ridge[None, :])[..., None])
    s = max(1, min(width, height) // 8)
    bx = int((index * 4) % (width + 2 * s)) - s
    by = int(height * 0.8)
    hull = np.array([[bx - s, by], [bx + s, by], [bx + s // 2, by + s // 2], [bx - s // 2, by + s // 2]])
    cv2.fillPoly(image, [hull], (30, 30, 120), cv2.LINE_AA)
    cv2.fillPoly(image, [np.array([[bx, by - 1], [bx, by - s], [bx + s // 2, by - 1]])], (240, 240, 240), cv2.LINE_AA)
    return image


def write_clip(path: str | Path, *, width: int = 320, height: int = 180, fps: Fraction | int = 25,
               frames: int = 25, audio: bool = True, codec: str = "libx264",
               audio_codec: str = "aac", channels: str = "stereo", rotation: int = 0,
               faststart: bool = False, pix_fmt: str = "yuv420p") -> Path:
    """Write ``frames`` frames of :func:`scene` (and a 440 Hz tone as long as the video)."""
    path = Path(path)
    fps = Fraction(fps)
    options = {"movflags": "faststart"} if faststart else {}  # index first: a cut file still opens
    with av.open(str(path), mode="w", options=options) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = pix_fmt  # yuv444p allows odd sizes
        if rotation:
            video.set_display_rotation(rotation)
        tone = container.add_stream(audio_codec, rate=48000, layout=channels) if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(i, width, height), format="bgr24")
            frame.pts = i
            video.codec_context.time_base = 1 / fps
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if tone is not None:
            _write_tone(container, tone, seconds=float(frames / fps))
    return path


def _write_tone(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    rate, chunk = stream.rate, 1024
    total = int(seconds * rate)
    layout = stream.layout.name
    n_channels = len(stream.layout.channels)
    fmt = stream.format.name
    for start in range(0, total, chunk):
        t = np.arange(start, min(start + chunk, total)) / rate
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        planes = np.repeat(wave[None], n_channels, axis=0)
        integer = {"s16": np.int16, "s32": np.int32}.get(fmt[:3])
        if integer is not None:
            planes = (planes * np.iinfo(integer).max).astype(integer)
        if not fmt.endswith("p"):  # packed formats are one plane of interleaved samples
            planes = planes.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(planes, format=fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
