"""Cameras for the live window: a device, a stream, a video file played in real time, or a test scene.

Each is a :class:`FrameSource`: ``read`` blocks until the next frame. What to keep of them (only
the newest) is the live core's business (:mod:`rtstyle.live`), not the source's.
"""

from __future__ import annotations

import contextlib
import glob
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from rtstyle.errors import InputError
from rtstyle.synthetic import scene
from rtstyle.video import VideoReader


class FrameSource(Protocol):
    """A camera. ``read`` blocks until the next frame and returns it as uint8 BGR H×W×3, or None
    when that read failed (a camera that keeps failing is reported by the window's watchdog)."""

    name: str  # what was opened, for messages: "camera 0", "video file clip.mp4"
    fps: float

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class CameraSource:
    """An OpenCV ``VideoCapture``: a camera index, a device path or a stream URL."""

    def __init__(self, spec: int | str, *, size: tuple[int, int] | None = None):
        self.name = f"camera {spec}"
        self._capture = _open_capture(spec)
        if size:  # the camera picks its nearest mode; frames are resized to exactly ``size`` below
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        self._size = size
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps <= 240 else 30.0

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return fit(image, self._size) if ok and image is not None else None

    def close(self) -> None:
        self._capture.release()


class FileSource:
    """A video file played as a camera: in real time at its own frame rate, looping at the end."""

    def __init__(self, path: str | Path, *, size: tuple[int, int] | None = None):
        self.path = Path(path)
        self.name = f"video file {self.path}"
        self._reader = VideoReader(self.path)
        self.fps = float(self._reader.info.fps)
        self._frames = iter(self._reader)
        self._size = size
        self._pacer = Pacer(self.fps)

    def read(self) -> np.ndarray | None:
        image = next(self._frames, None)
        if image is None:
            self._reader.close()
            self._reader = VideoReader(self.path)
            self._frames = iter(self._reader)
            image = next(self._frames)
        self._pacer.wait()
        return fit(image, self._size)

    def close(self) -> None:
        self._reader.close()


class SyntheticSource:
    """The built-in moving landscape of :func:`rtstyle.synthetic.scene`, paced like a camera."""

    def __init__(self, *, size: tuple[int, int] = (640, 360), fps: float = 30.0):
        self.name = "synthetic camera"
        self.fps = fps
        self.size = size
        self.index = 0
        self._pacer = Pacer(fps)

    def read(self) -> np.ndarray | None:
        self._pacer.wait()
        self.index += 1
        return scene(self.index - 1, *self.size)

    def close(self) -> None:
        pass


class Pacer:
    """``wait`` returns ``fps`` times a second; a late caller is not made to catch up."""

    def __init__(self, fps: float):
        self._period = 1 / fps
        self._next = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + self._period


def fit(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``image`` resized to ``size`` (W, H) unless it has that size already (or ``size`` is None)."""
    if size is None or image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def open_source(spec: str, *, size: tuple[int, int] | None = None) -> FrameSource:
    """``synthetic``, a camera index, a video file, a device path or a stream URL."""
    if spec == "synthetic":
        return SyntheticSource(size=size or (640, 360))
    if spec.isdigit():
        return CameraSource(int(spec), size=size)
    if "://" in spec:
        return CameraSource(spec, size=size)
    path = Path(spec)
    if path.is_file():
        return FileSource(path, size=size)
    if path.exists():  # a device node such as /dev/video2
        return CameraSource(spec, size=size)
    raise InputError(f"no camera, video file or device at {spec!r} "
                     "(give a camera index such as 0, a file, a URL, or 'synthetic' for a test scene)")


def _open_capture(spec: int | str) -> cv2.VideoCapture:
    stream = isinstance(spec, str) and "://" in spec
    # Only FFmpeg takes the timeouts, and a backend given a parameter it lacks refuses to open.
    backend, params = (cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
                       ) if stream else (cv2.CAP_ANY, [])
    with _opencv_quiet():  # each backend OpenCV tries logs its own failure; our error says it once
        capture = cv2.VideoCapture(spec, backend, params)
    if not capture.isOpened():
        capture.release()
        raise InputError(_cannot_open(spec))
    return capture


def _cannot_open(spec: int | str) -> str:
    hint = "give --camera another index, a device, a video file or a URL, or 'synthetic' for a test scene"
    if isinstance(spec, str) and "://" in spec:
        return f"cannot open the stream {spec} (OpenCV's FFmpeg backend could not connect or decode it in 5 s)"
    if not sys.platform.startswith("linux"):
        return f"cannot open camera {spec} through OpenCV (none there, or in use by another program); {hint}"
    devices = sorted(glob.glob("/dev/video*"))
    tried = f"/dev/video{spec}" if isinstance(spec, int) else spec
    found = (f"devices present: {', '.join(devices)}; the camera may be in use by another program" if devices
             else "no /dev/video* device exists: no camera is connected or its driver is not loaded")
    return f"cannot open camera {spec} (tried {tried} through OpenCV; {found}); {hint}"


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)
