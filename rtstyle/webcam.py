"""The live window: ``camera → engine → window``, one thread each.

* The *capture* thread reads a :class:`FrameSource` and keeps only its newest frame in a one-slot
  :class:`Latest` mailbox. When inference is slower than the camera, stale frames are replaced,
  never queued, so what is shown lags the camera by one frame plus one inference at most.
* The *inference* thread takes the newest frame, renders it as the window's current
  :class:`Look` asks (style, original, compare, strength), feeds the recording and the virtual
  camera, and posts the result to a second one-slot mailbox. Only this thread uses the engine.
* The caller's thread runs the window, because OpenCV's highgui (Qt, Cocoa) must stay on the main
  thread. It shows the newest result and reads keys: :data:`HOTKEYS` turns a key into a command,
  and :func:`step`, a pure function, turns the command into the next :class:`View`.

A result rendered for an older look (a key was pressed while it was being stylized) is dropped,
so the first frame shown after a key already shows what the key asked for. When a thread fails,
a shared event stops the others and the error is raised in the caller once the window is closed
and the camera released; a camera that stops sending frames (unplugged) is an :class:`InputError`.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import cv2
import numpy as np

from rtstyle.errors import InputError, OutputError, RtstyleError
from rtstyle.synthetic import scene
from rtstyle.temporal import Stabilizer
from rtstyle.video import VideoReader, VideoWriter, check_writable

log = logging.getLogger(__name__)

T = TypeVar("T")
CPU_WORK_PIXELS = 320 * 240  # on the CPU, stylize at most this many pixels unless --scale is given
# Capture and window threads run beside inference here: onnxruntime's threads must not busy-wait
# between operators, or one of them, descheduled mid-operator, stalls the whole frame (640x360
# fast network, 2 cores, camera at 120 fps: 38 fps shown without spinning, 15-22 fps with).
LIVE_SPIN = False
STRENGTH_STEP = 0.1
QUIT_SECONDS = 1.0  # the longest the threads are waited for after the window closes
NOTICE_SECONDS = 2.0
_POLL = 0.05  # seconds a thread waits for new work before it checks the stop flag again
_SHOW_WAIT = 0.01  # seconds the window waits for a new frame before it polls the keyboard


class StyleEngine(Protocol):
    """What the live window needs of :class:`rtstyle.engine.Engine` (tests give it fakes)."""

    @property
    def style_names(self) -> list[str]: ...

    @property
    def provider(self) -> str: ...

    def stylize(self, frames: np.ndarray, style: str | None = None) -> np.ndarray: ...


# --- the window's state machine: keys → commands → views (no display needed) -------------------


class Mode(Enum):
    STYLIZED = "stylized"
    ORIGINAL = "original"
    COMPARE = "compare"


class Action(Enum):
    NEXT_STYLE = "next style"
    PREV_STYLE = "previous style"
    TOGGLE_ORIGINAL = "stylized/original"
    COMPARE = "side-by-side compare"
    STRONGER = "stronger style"
    WEAKER = "weaker style"
    SNAPSHOT = "save a PNG snapshot"
    RECORD = "start/stop recording"
    FULLSCREEN = "fullscreen"
    HUD = "show/hide the HUD"
    QUIT = "quit"


@dataclass(frozen=True)
class PickStyle:
    """Show style number ``index`` (0-based) of the loaded styles."""

    index: int


Command = Action | PickStyle

# waitKeyEx codes of the arrow and keypad keys: X11 keysyms (Qt and GTK on Linux), then Windows.
KEY_LEFT, KEY_RIGHT = (65361, 2424832), (65363, 2555904)
KEY_PAD_PLUS, KEY_PAD_MINUS, KEY_ESC = 65451, 65453, 27
_LETTERS = {"n": Action.NEXT_STYLE, "p": Action.PREV_STYLE, "c": Action.COMPARE, "s": Action.SNAPSHOT,
            "r": Action.RECORD, "f": Action.FULLSCREEN, "h": Action.HUD, "q": Action.QUIT}
HOTKEYS: dict[int, Command] = {
    **{ord(str(n)): PickStyle(n - 1) for n in range(1, 10)},
    **{ord(c): action for key, action in _LETTERS.items() for c in (key, key.upper())},
    **dict.fromkeys(KEY_RIGHT, Action.NEXT_STYLE), **dict.fromkeys(KEY_LEFT, Action.PREV_STYLE),
    ord(" "): Action.TOGGLE_ORIGINAL,
    ord("+"): Action.STRONGER, ord("="): Action.STRONGER, KEY_PAD_PLUS: Action.STRONGER,
    ord("-"): Action.WEAKER, KEY_PAD_MINUS: Action.WEAKER,
    KEY_ESC: Action.QUIT,
}
HELP = ("1-9 style  n/p next/prev  space original  c compare  +/- strength",
        "s snapshot  r record  f fullscreen  h HUD  q quit")


@dataclass(frozen=True)
class Look:
    """What a shown frame is made of; the inference thread renders exactly this."""

    style: int  # index into the engine's styles
    mode: Mode = Mode.STYLIZED
    strength: float = 1.0  # 1: all style, 0: the camera frame


@dataclass(frozen=True)
class View:
    """The whole state of the window."""

    look: Look
    hud: bool = True
    fullscreen: bool = False
    recording: bool = False
    quit: bool = False


def step(view: View, command: Command, n_styles: int) -> View:
    """The state machine: the view after ``command``, with ``n_styles`` styles loaded."""
    look = view.look
    if isinstance(command, PickStyle):
        return _restyle(view, command.index) if command.index < n_styles else view
    if command in (Action.NEXT_STYLE, Action.PREV_STYLE):
        return _restyle(view, (look.style + (1 if command is Action.NEXT_STYLE else -1)) % n_styles)
    if command is Action.TOGGLE_ORIGINAL:
        return _remode(view, Mode.STYLIZED if look.mode is Mode.ORIGINAL else Mode.ORIGINAL)
    if command is Action.COMPARE:
        return _remode(view, Mode.STYLIZED if look.mode is Mode.COMPARE else Mode.COMPARE)
    if command in (Action.STRONGER, Action.WEAKER):
        delta = STRENGTH_STEP if command is Action.STRONGER else -STRENGTH_STEP
        return replace(view, look=replace(look, strength=round(min(1.0, max(0.0, look.strength + delta)), 2)))
    if command is Action.HUD:
        return replace(view, hud=not view.hud)
    if command is Action.FULLSCREEN:
        return replace(view, fullscreen=not view.fullscreen)
    if command is Action.RECORD:
        return replace(view, recording=not view.recording)
    if command is Action.QUIT:
        return replace(view, quit=True)
    return view  # a snapshot changes nothing the window remembers


def _restyle(view: View, index: int) -> View:
    mode = Mode.STYLIZED if view.look.mode is Mode.ORIGINAL else view.look.mode  # a new style is for seeing
    return replace(view, look=replace(view.look, style=index, mode=mode))


def _remode(view: View, mode: Mode) -> View:
    return replace(view, look=replace(view.look, mode=mode))


# --- rendering: a camera frame and a look → the picture (inference thread) ----------------------


def render(frame: np.ndarray, look: Look, stylize: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The picture for ``look``: uint8 BGR of ``frame``'s shape (H×W×3), whatever the mode."""
    if look.mode is Mode.ORIGINAL:
        return frame
    styled = stylize(frame)
    if look.strength < 1:
        styled = cv2.addWeighted(styled, look.strength, frame, 1 - look.strength, 0)
    return side_by_side(frame, styled) if look.mode is Mode.COMPARE else styled


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Both frames at half size, next to each other, in a frame of the same size (so sinks keep theirs)."""
    h, w = left.shape[:2]
    half = (max(1, w // 2), max(1, h // 2))
    canvas = np.zeros_like(left)
    top = (h - half[1]) // 2
    canvas[top:top + half[1], :half[0]] = cv2.resize(left, half, interpolation=cv2.INTER_AREA)
    canvas[top:top + half[1], w - half[0]:] = cv2.resize(right, half, interpolation=cv2.INTER_AREA)
    return canvas


def stylize_within(engine: StyleEngine, frame: np.ndarray, style: str, work_pixels: int | None) -> np.ndarray:
    """``engine.stylize`` at no more than ``work_pixels`` pixels, scaled back to the frame's size."""
    h, w = frame.shape[:2]
    if not work_pixels or h * w <= work_pixels:
        return engine.stylize(frame, style=style)
    factor = math.sqrt(work_pixels / (h * w))
    small = cv2.resize(frame, (max(16, round(w * factor)), max(16, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(engine.stylize(small, style=style), (w, h), interpolation=cv2.INTER_LINEAR)


# --- the HUD ----------------------------------------------------------------------------------


def draw_hud(image: np.ndarray, lines: Sequence[str], *, recording: bool, help_lines: Sequence[str] = HELP
             ) -> np.ndarray:
    """A copy of ``image`` (uint8 BGR) with ``lines`` top left, the key help at the bottom, REC top right."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(1.0, w / 1100))
    step_y = int(28 * scale) + 4
    for i, text in enumerate(lines):
        _text(out, text, (8, step_y * (i + 1)), scale)
    for i, text in enumerate(help_lines):
        _text(out, text, (8, h - 8 - step_y * (len(help_lines) - 1 - i)), scale * 0.85)
    if recording:
        cv2.circle(out, (w - 60, step_y - 6), max(3, int(8 * scale)), (0, 0, 255), -1, cv2.LINE_AA)
        _text(out, "REC", (w - 48, step_y), scale, (0, 0, 255))
    return out


def _text(image: np.ndarray, text: str, at: tuple[int, int], scale: float,
          colour: tuple[int, int, int] = (255, 255, 255)) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, text, at, font, scale, (0, 0, 0), 3, cv2.LINE_AA)  # outline: legible on any picture
    cv2.putText(image, text, at, font, scale, colour, 1, cv2.LINE_AA)


class Rate:
    """Events per second, smoothed over roughly the last ten events."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            dt = now - self._last
            self._interval = dt if self._interval is None else 0.9 * self._interval + 0.1 * dt
        self._last = now

    @property
    def per_second(self) -> float:
        return 1 / self._interval if self._interval else 0.0


# --- camera sources ---------------------------------------------------------------------------


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


# --- sinks of the inference thread: recording and virtual camera ------------------------------


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


class _Outputs:
    """The recording (while ``r`` is on) and the virtual camera, fed every rendered frame."""

    def __init__(self, fps: float, virtual_cam: VirtualCamera | None):
        self._fps = fps
        self._virtual_cam = virtual_cam
        self._rate = Rate()
        self._recording: Path | None = None
        self._writer: VideoWriter | None = None

    def write(self, image: np.ndarray, record_to: Path | None) -> None:
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


# --- the threads --------------------------------------------------------------------------------


class Latest(Generic[T]):
    """A one-slot mailbox: ``put`` replaces what is there, so a slow reader never has a backlog."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._item: T | None = None
        self.count = 0  # items put so far; the one in the slot is number ``count``
        self.dropped = 0  # items replaced before anyone took them
        self._taken = 0

    def put(self, item: T) -> None:
        with self._changed:
            self.dropped += self.count > self._taken
            self._item, self.count = item, self.count + 1
            self._changed.notify_all()

    def newer(self, than: int, timeout: float) -> tuple[int, T] | None:
        """``(number, item)`` of the newest item if it is newer than ``than``; waits up to ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.count > than, timeout):
                return None
            self._taken = self.count
            return self.count, self._item  # type: ignore[return-value]

    def peek(self) -> T | None:
        return self._item


@dataclass(frozen=True, eq=False)
class Captured:
    image: np.ndarray  # uint8 BGR H×W×3
    index: int  # frames read from the source before this one
    at: float  # time.monotonic() when it was read


@dataclass(frozen=True, eq=False)
class Shown:
    """A rendered frame: what the window shows, before the HUD is drawn on it."""

    image: np.ndarray  # uint8 BGR H×W×3, the size of the camera frame
    original: np.ndarray  # the camera frame it was made from
    look: Look
    index: int  # the camera frame's index
    infer_ms: float


@dataclass
class _Live:
    """What the window tells the inference thread: fields are replaced whole, never changed in place."""

    look: Look
    record_to: Path | None = None


class _Stages:
    """Background threads that stop together; the first error is kept for the caller."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def start(self, name: str, body: Callable[[], None]) -> None:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # handed to the caller by raise_error
                self.errors.append(exc)
                self.stop.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s; it will finish on its own", thread.name, timeout)

    def raise_error(self) -> None:
        if self.errors:
            raise self.errors[0]


def _capture(source: FrameSource, frames: Latest[Captured], stop: threading.Event) -> None:
    """Read until stopped, keeping only the newest frame. This thread alone touches the source,
    so it also releases it: a release from another thread could race a read that is blocked."""
    try:
        index = 0
        while not stop.is_set():
            image = source.read()
            if image is None:
                stop.wait(0.01)
                continue
            frames.put(Captured(image, index, time.monotonic()))
            index += 1
    finally:
        source.close()


def _infer(engine: StyleEngine, work_pixels: int | None, frames: Latest[Captured], results: Latest[Shown],
           live: _Live, outputs: _Outputs, stop: threading.Event, steady: _Steadier | None = None) -> None:
    """Render the newest camera frame as ``live.look`` says, feed the outputs, post the result."""
    names, seen = engine.style_names, 0
    try:
        while not stop.is_set():
            got = frames.newer(seen, timeout=_POLL)
            if got is None:
                continue
            seen, captured = got
            look = live.look
            began = time.perf_counter()
            image = render(captured.image, look, partial(stylize_within, engine, style=names[look.style],
                                                          work_pixels=work_pixels))
            if steady is not None:
                image = steady(look, captured.image, image)
            infer_ms = (time.perf_counter() - began) * 1000
            outputs.write(image, live.record_to)
            results.put(Shown(image, captured.image, look, captured.index, infer_ms))
    finally:
        outputs.close()


class _Steadier:
    """A :class:`Stabilizer` that starts fresh whenever the look changes (style, mode, strength)."""

    def __init__(self) -> None:
        self.stabilizer = Stabilizer()
        self.look: Look | None = None

    def __call__(self, look: Look, frame: np.ndarray, image: np.ndarray) -> np.ndarray:
        if look != self.look:
            self.stabilizer.reset()
            self.look = look
        return self.stabilizer.process(frame, image) if look.mode is Mode.STYLIZED else image


# --- the window -------------------------------------------------------------------------------


class Display(Protocol):
    """Where frames are shown and keys come from; :class:`OpenCVWindow` is the real one."""

    def __enter__(self) -> Display: ...

    def __exit__(self, *exc: object) -> None: ...

    def show(self, image: np.ndarray) -> None: ...

    def poll_key(self, wait_ms: int) -> int: ...  # -1: no key

    def is_open(self) -> bool: ...

    def set_fullscreen(self, on: bool) -> None: ...


class OpenCVWindow:
    """The real window (OpenCV highgui); every call must come from the main thread."""

    def __init__(self, title: str = "rtstyle"):
        self.title = title

    @staticmethod
    def check() -> None:
        """Fail with one line where no window can open (Qt would abort the whole process)."""
        names = ("DISPLAY", "WAYLAND_DISPLAY")
        if sys.platform.startswith("linux") and not any(os.environ.get(n) for n in names):
            raise RtstyleError("the webcam window needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set "
                               "(run it in a desktop session, or under xvfb-run)")

    def __enter__(self) -> OpenCVWindow:
        self.check()
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        return self

    def __exit__(self, *exc: object) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # the GUI loop must run once for the window to disappear

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(self.title, image)

    def poll_key(self, wait_ms: int) -> int:
        return cv2.waitKeyEx(wait_ms)

    def is_open(self) -> bool:
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def set_fullscreen(self, on: bool) -> None:
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL)


@dataclass(frozen=True, kw_only=True)
class LiveSettings:
    """How the live window runs (everything but the camera, the engine and the display)."""

    first_style: int = 0
    work_pixels: int | None = None  # stylize at most this many pixels and scale back (for the CPU)
    output_dir: Path = Path(".")  # where snapshots and recordings go
    hud: bool = True
    first_frame_seconds: float = 10.0  # a camera that sends nothing for this long is an error…
    stall_seconds: float = 3.0  # …and so is one that stops for this long (unplugged)
    stabilize: bool = False  # flow-guided blending against flicker (rtstyle.temporal)


@dataclass(frozen=True)
class LiveResult:
    frames_shown: int
    snapshots: tuple[Path, ...]
    recordings: tuple[Path, ...]


def run_live(source: FrameSource, engine: StyleEngine, display: Display, settings: LiveSettings, *,
             virtual_cam: VirtualCamera | None = None, on_shown: Callable[[Shown], None] | None = None
             ) -> LiveResult:
    """``camera → engine → window`` until quit (see the module docstring); closes ``source``.

    ``on_shown`` is called with every frame the window shows, after it is shown.
    """
    frames, results = Latest[Captured](), Latest[Shown]()
    live = _Live(look=Look(style=settings.first_style))
    outputs, stages = _Outputs(source.fps, virtual_cam), _Stages()
    stages.start("rtstyle-capture", partial(_capture, source, frames, stages.stop))
    steady = _Steadier() if settings.stabilize else None
    stages.start("rtstyle-inference", partial(_infer, engine, settings.work_pixels, frames, results, live, outputs,
                                              stages.stop, steady))
    window = _WindowLoop(display, engine, settings, live, frames, results, stages.stop, source.name, on_shown)
    try:
        with display:
            result = window.run()
    finally:
        stages.join(QUIT_SECONDS)
    stages.raise_error()
    return result


class _WindowLoop:
    """Show the newest result, read a key, apply it; the only code that talks to the display."""

    def __init__(self, display: Display, engine: StyleEngine, settings: LiveSettings, live: _Live,
                 frames: Latest[Captured], results: Latest[Shown], stop: threading.Event, source_name: str,
                 on_shown: Callable[[Shown], None] | None):
        self.display, self.settings, self.live = display, settings, live
        self.frames, self.results, self.stop, self.source_name = frames, results, stop, source_name
        self.names, self.provider = engine.style_names, engine.provider.removesuffix("ExecutionProvider")
        self.on_shown = on_shown
        self.view = View(look=live.look, hud=settings.hud)
        self.last: Shown | None = None
        self.seen = self.shown = 0
        self.rate = Rate()
        self.notice: tuple[str, float] | None = None
        self.snapshots: list[Path] = []
        self.recordings: list[Path] = []

    def run(self) -> LiveResult:
        began = time.monotonic()
        while not (self.view.quit or self.stop.is_set()):
            self._show_newest()
            self._watch_camera(began)
            command = HOTKEYS.get(self.display.poll_key(1))
            if command is not None:
                self._apply(command)
            elif self.last is not None and not self.display.is_open():
                break  # closed with the window's own close button
        return LiveResult(self.shown, tuple(self.snapshots), tuple(self.recordings))

    def _show_newest(self) -> None:
        got = self.results.newer(self.seen, timeout=_SHOW_WAIT)
        if got is None:
            return
        self.seen, shown = got
        if shown.look != self.view.look:
            return  # rendered before the last key: showing it would undo the key for a frame
        self.last, self.shown = shown, self.shown + 1
        self.rate.tick()
        self._draw(shown)
        if self.on_shown is not None:
            self.on_shown(shown)

    def _watch_camera(self, began: float) -> None:
        latest, now = self.frames.peek(), time.monotonic()
        if latest is None and now - began > self.settings.first_frame_seconds:
            raise InputError(f"{self.source_name} opened but sent no frame in {self.settings.first_frame_seconds:g} s")
        if latest is not None and now - latest.at > self.settings.stall_seconds:
            raise InputError(f"{self.source_name} stopped sending frames {now - latest.at:.1f} s ago "
                             "(unplugged, or taken by another program?)")

    def _apply(self, command: Command) -> None:
        before, self.view = self.view, step(self.view, command, len(self.names))
        self.live.look = self.view.look
        if command is Action.SNAPSHOT:
            self._snapshot()
        if self.view.recording != before.recording:
            self._toggle_recording()
        if self.view.fullscreen != before.fullscreen:
            self.display.set_fullscreen(self.view.fullscreen)
        if self.last is not None and self.view.look == before.look:
            self._draw(self.last)  # HUD changes show at once; a new look shows with its first frame

    def _snapshot(self) -> None:
        if self.last is None:
            self._say("no frame to save yet")
            return
        path = new_path(self.settings.output_dir, self.names[self.last.look.style], ".png")
        try:
            save_png(path, self.last.image)
        except (OutputError, OSError) as exc:
            log.warning("snapshot failed: %s", exc)
            self._say(f"cannot save {path.name}")
            return
        self.snapshots.append(path)
        self._say(f"saved {path.name}")

    def _toggle_recording(self) -> None:
        if self.view.recording:
            self.live.record_to = new_path(self.settings.output_dir, "recording", ".mp4")
            self.recordings.append(self.live.record_to)
            self._say(f"recording {self.live.record_to.name}")
        else:
            self.live.record_to = None
            self._say(f"saved {self.recordings[-1].name}")

    def _say(self, text: str) -> None:
        log.info("%s", text)
        self.notice = (text, time.monotonic() + NOTICE_SECONDS)

    def _draw(self, shown: Shown) -> None:
        image = shown.image
        if self.view.hud:
            image = draw_hud(image, self._hud_lines(shown), recording=self.view.recording)
        self.display.show(image)

    def _hud_lines(self, shown: Shown) -> list[str]:
        look = self.view.look
        style = f"{look.style + 1}/{len(self.names)} {self.names[look.style]}"
        extra = [] if look.mode is Mode.STYLIZED else [look.mode.value]
        extra += [f"strength {look.strength:.0%}"] if look.strength < 1 and look.mode is not Mode.ORIGINAL else []
        lines = ["  ".join([style, *extra]),
                 f"{self.rate.per_second:.1f} fps  {shown.infer_ms:.0f} ms  {self.provider}"]
        if self.notice and time.monotonic() < self.notice[1]:
            lines.append(self.notice[0])
        return lines


def new_path(folder: Path, label: str, suffix: str) -> Path:
    """``folder/rtstyle-YYYYmmdd-HHMMSS-label.suffix``, numbered when that exists already."""
    stem = f"rtstyle-{time.strftime('%Y%m%d-%H%M%S')}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}"
    path, n = folder / f"{stem}{suffix}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{suffix}", n + 1
    return path


def save_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OutputError(f"cannot encode a PNG of shape {image.shape}")
    path.write_bytes(data.tobytes())


# --- the command ----------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    """``640x480`` → (640, 480)."""
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or min(int(match[1]), int(match[2])) < 16:
        raise argparse.ArgumentTypeError(f"size must be WxH with both at least 16, such as 640x480, not {text!r}")
    return int(match[1]), int(match[2])


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``rtstyle webcam`` to the CLI's subcommands."""
    from rtstyle.cli import _engine_options

    p = subparsers.add_parser("webcam", help="live stylized camera window (press h for the keys)",
                              description="Live stylized camera window. On the CPU, frames are stylized at "
                              f"{CPU_WORK_PIXELS} pixels at most with the full networks unless --scale is given. "
                              "Keys: " + "  ".join(HELP))
    p.add_argument("--camera", default="0", metavar="INDEX|PATH|URL",
                   help="camera index, device, video file, stream URL, or 'synthetic' for a test scene (default: 0)")
    p.add_argument("--size", type=parse_size, metavar="WxH",
                   help="frame size (asked of the camera; frames are resized to it)")
    _engine_options(p)
    p.set_defaults(scale=None)  # None: full size on a GPU, at most CPU_WORK_PIXELS on the CPU
    p.add_argument("--output-dir", type=Path, default=Path("."), help="folder for snapshots and recordings")
    p.add_argument("--virtual-cam", action="store_true",
                   help="also send the stylized frames to a virtual camera (pyvirtualcam; v4l2loopback on Linux)")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (h shows it)")
    p.add_argument("--stabilize", action="store_true",
                   help="blend the previous frame along the optical flow against flicker (costs a few ms a frame)")
    p.add_argument("--variant", choices=("auto", "full", "fast"), default="auto",
                   help="network per painting; auto: fast on the CPU, full on a GPU")
    p.set_defaults(run=cmd_webcam)
    return p


def cmd_webcam(args: argparse.Namespace) -> int:
    source, engine, settings, virtual_cam = prepare(args)
    result = run_live(source, engine, OpenCVWindow(), settings, virtual_cam=virtual_cam)
    for path in (*result.snapshots, *result.recordings):
        print(f"saved {path}", file=sys.stderr)
    return 0


def prepare(args: argparse.Namespace) -> tuple[FrameSource, StyleEngine, LiveSettings, VirtualCamera | None]:
    """Everything ``rtstyle webcam`` needs, checked cheapest first; the source is opened last."""
    from rtstyle.cli import _engine

    OpenCVWindow.check()
    check_writable(args.output_dir / "rtstyle-snapshot.png")
    virtual_cam = VirtualCamera() if args.virtual_cam else None
    variant = _variant(args)
    names, first = style_order(args.style, variant)
    engine = _engine(argparse.Namespace(**{**vars(args), "scale": args.scale or 1.0}), names, spin=LIVE_SPIN)
    on_cpu = engine.provider == "CPUExecutionProvider"
    # The fast networks keep up at full size; the full ones need fewer pixels on a CPU.
    all_fast = all(s.variant == "fast" for s in engine.styles)
    work_pixels = CPU_WORK_PIXELS if on_cpu and args.scale is None and not all_fast else None
    if work_pixels:
        log.info("on the CPU: stylizing at most %d pixels per frame (--scale 1 for full size)", work_pixels)
    settings = LiveSettings(first_style=first, work_pixels=work_pixels, output_dir=args.output_dir,
                            hud=not args.no_hud, stabilize=args.stabilize)
    return open_source(args.camera, size=args.size), engine, settings, virtual_cam


def _variant(args: argparse.Namespace) -> str:
    """``auto``: the fast networks where inference will run on the CPU."""
    from rtstyle.engine import likely_cpu

    if args.variant != "auto":
        return str(args.variant)
    return "fast" if likely_cpu(args.device) else "full"


def style_order(choice: str | None, variant: str = "full") -> tuple[list[str], int]:
    """One network per installed painting, of ``variant`` where there is one (so that keys can
    switch to every painting), and the index of the one to show first."""
    from rtstyle.models import default_style, find_style, installed_styles, pick_variant

    styles = pick_variant(installed_styles(), variant)
    installed = [s.name for s in styles]
    first = find_style(choice) if choice else default_style()
    same_painting = [i for i, s in enumerate(styles) if s.base == first.base]
    if same_painting:  # the chosen painting, in the chosen variant
        return installed, same_painting[0]
    return [str(first.path), *installed], 0
