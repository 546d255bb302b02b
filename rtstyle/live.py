"""The live core: the newest camera frame → the engine → the newest painted frame, never a backlog.

Shared by the desktop window (:mod:`rtstyle.webcam`) and the studio's browser sessions
(:mod:`rtstyle.serve.routes.live`):

* A :class:`Feed` is one live stream. Its camera side puts frames into a one-slot :class:`Latest`
  mailbox: when inference is slower than the camera, stale frames are replaced, never queued, so
  what is shown lags the camera by one frame plus one inference at most. Its inference side
  :meth:`Feed.take` s the newest frame, :meth:`Feed.paint` s it as the feed's current :class:`Look`
  asks, and :meth:`Feed.post` s the result to a second one-slot mailbox.
* Who runs which side differs: the window runs :func:`capture` and :func:`infer` on two
  :class:`Stages` threads; the studio's one inference worker takes the newest frame of each
  browser feed in turn (round robin), and the event loop fills and empties the mailboxes.
* :data:`KEY_TABLE` is the one key table. :data:`HOTKEYS` (the window's key codes) and :data:`KEYMAP`
  (the browser's key names), made from it, turn a key into a command, and :func:`step`, a pure
  function, turns the command into the next :class:`View` — the window's keys and the browser's
  data channel alike.

When a stage fails, :class:`Stages` stops the others and keeps the first error for the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial
from typing import Generic, Protocol, TypeVar

import cv2
import numpy as np

from rtstyle.camera import FrameSource
from rtstyle.color import finish
from rtstyle.providers import TrtProfile
from rtstyle.strokes import STROKE_RANGE
from rtstyle.temporal import Stabilizer

log = logging.getLogger(__name__)

T = TypeVar("T")
# Capture and display threads run beside inference: onnxruntime's threads must not busy-wait
# between operators, or one of them, descheduled mid-operator, stalls the whole frame (640x360
# fast network, 2 cores, camera at 120 fps: 38 fps shown without spinning, 15-22 fps with).
LIVE_SPIN = False
# One frame at a time, tuned for a 640x360 camera, up to 1920 on a side: a TensorRT engine for batches of
# 8 at 1080p (rtstyle video's) runs single live frames far from the shape it was tuned for.
LIVE_TRT_PROFILE = TrtProfile(opt=(1, 424, 704), max=(1, 2688, 2688))  # one frame at the working size
STRENGTH_STEP = 0.1
STROKE_STEP = 1.25  # each [ or ] makes strokes this much smaller or bigger
POLL_SECONDS = 0.05  # how long a thread waits for new work before it checks the stop flag again


class StyleEngine(Protocol):
    """What live painting needs of :class:`rtstyle.engine.Engine` (tests give it fakes)."""

    @property
    def style_names(self) -> list[str]: ...

    @property
    def provider(self) -> str: ...

    def stylize(self, frames: np.ndarray, style: str | None = None, *, stroke: float | None = None) -> np.ndarray: ...


# --- the state machine: keys → commands → views (no display needed) ---------------------------


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
    BIGGER_STROKES = "bigger strokes"
    SMALLER_STROKES = "smaller strokes"
    KEEP_COLORS = "keep the camera's colours"
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


@dataclass(frozen=True)
class Hotkey:
    """One entry of the key table: the keys by their browser names (``KeyboardEvent.key``), what each does,
    and how the help writes them (``label``, ASCII for the window's HUD, and ``words``)."""

    label: str
    words: str
    keys: dict[str, Command]


# The one key table: the desktop window (:data:`HOTKEYS`), the studio's data channel (:data:`KEYMAP`)
# and the studio page's key handling and help (``GET /api/live/keys``) are all made from it.
KEY_TABLE: tuple[Hotkey, ...] = (
    Hotkey("1-9", "style", {str(n): PickStyle(n - 1) for n in range(1, 10)}),
    Hotkey("n/p <-/->", "next/prev", {"n": Action.NEXT_STYLE, "p": Action.PREV_STYLE,
                                      "ArrowRight": Action.NEXT_STYLE, "ArrowLeft": Action.PREV_STYLE}),
    Hotkey("space", "original", {" ": Action.TOGGLE_ORIGINAL}),
    Hotkey("c", "compare", {"c": Action.COMPARE}),
    Hotkey("+/-", "strength", {"+": Action.STRONGER, "=": Action.STRONGER, "-": Action.WEAKER}),
    Hotkey("[/]", "strokes", {"[": Action.SMALLER_STROKES, "]": Action.BIGGER_STROKES}),
    Hotkey("k", "colours", {"k": Action.KEEP_COLORS}),
    Hotkey("s", "snapshot", {"s": Action.SNAPSHOT}),
    Hotkey("r", "record", {"r": Action.RECORD}),
    Hotkey("f", "fullscreen", {"f": Action.FULLSCREEN}),
    Hotkey("h", "HUD", {"h": Action.HUD}),
    Hotkey("q", "quit", {"q": Action.QUIT, "Escape": Action.QUIT}),
)
# A letter works with Shift or Caps Lock too.
KEYMAP: dict[str, Command] = {name: command for hotkey in KEY_TABLE for key, command in hotkey.keys.items()
                              for name in dict.fromkeys((key, key.upper() if len(key) == 1 else key))}

# waitKeyEx codes of the arrow and keypad keys: X11 keysyms (Qt and GTK on Linux), then Windows.
KEY_LEFT, KEY_RIGHT = (65361, 2424832), (65363, 2555904)
KEY_PAD_PLUS, KEY_PAD_MINUS, KEY_ESC = 65451, 65453, 27
_CODES = {"ArrowLeft": KEY_LEFT, "ArrowRight": KEY_RIGHT, "Escape": (KEY_ESC,),
          "+": (ord("+"), KEY_PAD_PLUS), "-": (ord("-"), KEY_PAD_MINUS)}
HOTKEYS: dict[int, Command] = {code: command for name, command in KEYMAP.items()
                               for code in _CODES.get(name) or (ord(name),)}
_LOOKS = 7  # the HUD's first help line: what changes the picture; the second: the window's tools
HELP = tuple("  ".join(f"{hotkey.label} {hotkey.words}" for hotkey in part)
             for part in (KEY_TABLE[:_LOOKS], KEY_TABLE[_LOOKS:]))


@dataclass(frozen=True)
class Look:
    """What a painted frame is made of; inference renders exactly this."""

    style: int  # index into the engine's styles
    mode: Mode = Mode.STYLIZED
    strength: float = 1.0  # 1: all style, 0: the camera frame
    keep_colors: bool = False  # the painting's strokes on the camera's colours
    stroke: float | None = None  # stroke size (rtstyle.strokes); None: the style's own


@dataclass(frozen=True)
class View:
    """The whole state of a live view (the desktop window or a browser tab)."""

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
    if command in (Action.BIGGER_STROKES, Action.SMALLER_STROKES):
        factor = STROKE_STEP if command is Action.BIGGER_STROKES else 1 / STROKE_STEP
        stroke = min(STROKE_RANGE[1], max(STROKE_RANGE[0], (look.stroke or 1.0) * factor))
        return replace(view, look=replace(look, stroke=round(stroke, 3)))
    if command is Action.KEEP_COLORS:
        return replace(view, look=replace(look, keep_colors=not look.keep_colors))
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


# --- rendering: a camera frame and a look → the picture (inference) -----------------------------


def render(frame: np.ndarray, look: Look, stylize: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The picture for ``look``: uint8 BGR of ``frame``'s shape (H×W×3), whatever the mode."""
    if look.mode is Mode.ORIGINAL:
        return frame
    styled = finish(frame, stylize(frame), strength=look.strength, preserve_colors=look.keep_colors)
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



# --- mailboxes and threads --------------------------------------------------------------------------------


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
    captured_at: float = 0.0  # time.monotonic() when the camera frame was read (or arrived)


class Sink(Protocol):
    """Where every painted frame also goes (the window's recording and virtual camera)."""

    def write(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


class Feed:
    """One live stream: the newest camera frame in, the newest painted frame out (see the module docstring).

    ``look`` is replaced whole by the controlling side (keys, data channel) and read by inference.
    ``on_result`` is called from the inference side after each post (the studio wakes its event loop).
    """

    def __init__(self, look: Look, *, stabilize: bool = False, on_result: Callable[[], None] | None = None):
        self.look = look
        self.frames: Latest[Captured] = Latest()
        self.results: Latest[Shown] = Latest()
        self.steady = Steadier() if stabilize else None
        self.on_result = on_result
        self.taken = 0  # number of the newest frame inference has taken
        self.error: Exception | None = None  # why painting failed (the studio's worker keeps going)

    @property
    def fresh(self) -> bool:
        """Whether a frame is waiting that inference has not taken yet."""
        return self.frames.count > self.taken

    def take(self, timeout: float) -> Captured | None:
        """The newest frame not taken yet, waiting up to ``timeout`` seconds for one."""
        got = self.frames.newer(self.taken, timeout)
        if got is None:
            return None
        self.taken, captured = got
        return captured

    def paint(self, engine: StyleEngine, captured: Captured) -> Shown:
        """``captured`` rendered as the current look says (inference side only: it uses the engine)."""
        look, began = self.look, time.perf_counter()
        stylize = partial(engine.stylize, style=engine.style_names[look.style], stroke=look.stroke)
        image = render(captured.image, look, stylize)
        if self.steady is not None:
            image = self.steady(look, captured.image, image)
        return Shown(image, captured.image, look, captured.index, (time.perf_counter() - began) * 1000, captured.at)

    def post(self, shown: Shown) -> None:
        self.results.put(shown)
        if self.on_result is not None:
            self.on_result()

    def fail(self, error: Exception) -> None:
        self.error = error
        if self.on_result is not None:
            self.on_result()


class Stages:
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


def capture(source: FrameSource, frames: Latest[Captured], stop: threading.Event) -> None:
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


def infer(engine: StyleEngine, feed: Feed, stop: threading.Event, sink: Sink | None = None) -> None:
    """Paint the feed's newest frame until stopped, feeding ``sink`` (closed at the end) before posting."""
    try:
        while not stop.is_set():
            captured = feed.take(POLL_SECONDS)
            if captured is None:
                continue
            shown = feed.paint(engine, captured)
            if sink is not None:
                sink.write(shown.image)
            feed.post(shown)
    finally:
        if sink is not None:
            sink.close()


class Steadier:
    """A :class:`Stabilizer` that starts fresh whenever the look changes (style, mode, strength)."""

    def __init__(self) -> None:
        self.stabilizer = Stabilizer()
        self.look: Look | None = None

    def __call__(self, look: Look, frame: np.ndarray, image: np.ndarray) -> np.ndarray:
        if look != self.look:
            self.stabilizer.reset()
            self.look = look
        return self.stabilizer.process(frame, image) if look.mode is Mode.STYLIZED else image
