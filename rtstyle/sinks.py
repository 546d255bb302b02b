"""Where the live window's painted frames also go: a recording and a virtual camera."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtstyle.errors import OutputError
from rtstyle.live import Rate
from rtstyle.video import VideoWriter

log = logging.getLogger(__name__)


class VirtualCamera:
    """Frames to a virtual camera through pyvirtualcam (v4l2loopback on Linux, OBS on Windows/macOS).

    The module is imported here, so a missing one is reported before the window opens; the
    device is opened on the first frame, when the size is known.
    """

    def __init__(self) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise OutputError("--virtual-cam needs pyvirtualcam: pip install 'rtstyle[virtualcam]' "
                              "(on Linux also the v4l2loopback kernel module)") from exc
        self._module = pyvirtualcam
        self._camera: object | None = None

    def send(self, image: np.ndarray, fps: float) -> None:
        """One uint8 BGR H×W×3 frame; the first fixes the size."""
        if self._camera is None:
            self._camera = self._open(image.shape[1], image.shape[0], fps)
        self._camera.send(image)  # type: ignore[attr-defined]

    def _open(self, width: int, height: int, fps: float) -> object:
        try:
            camera = self._module.Camera(width=width, height=height, fps=fps, fmt=self._module.PixelFormat.BGR)
        except (RuntimeError, ValueError) as exc:
            raise OutputError(f"no virtual camera backend ({exc}); on Linux: sudo modprobe v4l2loopback "
                              "exclusive_caps=1, on Windows/macOS: install OBS and start its virtual camera once"
                              ) from exc
        log.info("virtual camera: %s", camera.device)
        return camera

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()  # type: ignore[attr-defined]


class Outputs:
    """The recording (while ``record_to`` is set) and the virtual camera, fed every rendered frame."""

    def __init__(self, fps: float, virtual_cam: VirtualCamera | None):
        self.record_to: Path | None = None  # replaced whole by the window, read by the inference thread
        self._fps = fps
        self._virtual_cam = virtual_cam
        self._rate = Rate()
        self._recording: Path | None = None
        self._writer: VideoWriter | None = None

    def write(self, image: np.ndarray) -> None:
        record_to = self.record_to
        self._rate.tick()
        if record_to != self._recording:
            self._finish_recording()
            self._recording = record_to
            # The file's frame rate is the rate frames are rendered at now, so it plays at about real speed.
            fps = Fraction(max(1, min(round(self._rate.per_second or self._fps), 60)))
            self._writer = VideoWriter(record_to, fps) if record_to else None
        if self._writer is not None:
            self._writer.write(image)
        if self._virtual_cam is not None:
            self._virtual_cam.send(image, self._fps)

    def _finish_recording(self) -> None:
        if self._writer is None:
            return
        if self._writer.frames_written:
            self._writer.close()
            log.info("recorded %d frames to %s", self._writer.frames_written, self._writer.path)
        else:
            self._writer.abort()
        self._writer = None

    def close(self) -> None:
        try:
            self._finish_recording()
        finally:
            if self._virtual_cam is not None:
                self._virtual_cam.close()
