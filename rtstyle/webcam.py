"""The live window: ``camera → engine → window``, one thread each.

The capture and inference threads are the live core's (:mod:`rtstyle.live`: only the newest
camera frame is painted, stale ones are dropped). This module adds what belongs to the window:

* The caller's thread runs the window, because OpenCV's highgui (Qt, Cocoa) must stay on the main
  thread. It shows the newest result and reads keys: :data:`~rtstyle.live.HOTKEYS` turns a key
  into a command, and :func:`~rtstyle.live.step` turns the command into the next view.
* A result rendered for an older look (a key was pressed while it was being stylized) is dropped,
  so the first frame shown after a key already shows what the key asked for.
* Snapshots, the recording and the virtual camera (:mod:`rtstyle.sinks`), and the HUD.

When a thread fails, a shared event stops the others and the error is raised in the caller once
the window is closed and the camera released; a camera that stops sending frames (unplugged) is
an :class:`InputError`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from rtstyle.camera import FrameSource, open_source
from rtstyle.errors import InputError, OutputError, RtstyleError
from rtstyle.live import (
    HELP,
    HOTKEYS,
    LIVE_SPIN,
    LIVE_TRT_PROFILE,
    Action,
    Command,
    Feed,
    Look,
    Mode,
    Rate,
    Shown,
    Stages,
    StyleEngine,
    View,
    capture,
    infer,
    step,
)
from rtstyle.options import engine_options, make_engine, parse_size
from rtstyle.sinks import Outputs, VirtualCamera
from rtstyle.video import check_writable

log = logging.getLogger(__name__)

QUIT_SECONDS = 1.0  # the longest the threads are waited for after the window closes
NOTICE_SECONDS = 2.0
_SHOW_WAIT = 0.01  # seconds the window waits for a new frame before it polls the keyboard


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
    stroke: float | None = None  # stroke size to start with (rtstyle.strokes); None: the style's own
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
    feed = Feed(Look(style=settings.first_style, stroke=settings.stroke), stabilize=settings.stabilize)
    outputs, stages = Outputs(source.fps, virtual_cam), Stages()
    stages.start("rtstyle-capture", partial(capture, source, feed.frames, stages.stop))
    stages.start("rtstyle-inference", partial(infer, engine, feed, stages.stop, outputs))
    window = _WindowLoop(display, engine, settings, feed, outputs, stages.stop, source.name, on_shown)
    try:
        with display:
            result = window.run()
    finally:
        stages.join(QUIT_SECONDS)
    stages.raise_error()
    return result


class _WindowLoop:
    """Show the newest result, read a key, apply it; the only code that talks to the display."""

    def __init__(self, display: Display, engine: StyleEngine, settings: LiveSettings, feed: Feed, outputs: Outputs,
                 stop: threading.Event, source_name: str, on_shown: Callable[[Shown], None] | None):
        self.display, self.settings, self.feed, self.outputs = display, settings, feed, outputs
        self.stop, self.source_name = stop, source_name
        self.names, self.provider = engine.style_names, engine.provider.removesuffix("ExecutionProvider")
        self.on_shown = on_shown
        self.view = View(look=feed.look, hud=settings.hud)
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
        got = self.feed.results.newer(self.seen, timeout=_SHOW_WAIT)
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
        latest, now = self.feed.frames.peek(), time.monotonic()
        if latest is None and now - began > self.settings.first_frame_seconds:
            raise InputError(f"{self.source_name} opened but sent no frame in {self.settings.first_frame_seconds:g} s")
        if latest is not None and now - latest.at > self.settings.stall_seconds:
            raise InputError(f"{self.source_name} stopped sending frames {now - latest.at:.1f} s ago "
                             "(unplugged, or taken by another program?)")

    def _apply(self, command: Command) -> None:
        before, self.view = self.view, step(self.view, command, len(self.names))
        self.feed.look = self.view.look
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
            self.outputs.record_to = new_path(self.settings.output_dir, "recording", ".mp4")
            self.recordings.append(self.outputs.record_to)
            self._say(f"recording {self.outputs.record_to.name}")
        else:
            self.outputs.record_to = None
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
        extra += ["camera colours"] if look.keep_colors and look.mode is not Mode.ORIGINAL else []
        extra += [f"strokes {look.stroke:g}x"] if look.stroke is not None and look.mode is not Mode.ORIGINAL else []
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


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``rtstyle webcam`` to the CLI's subcommands."""
    p = subparsers.add_parser("webcam", help="live stylized camera window (press h for the keys)",
                              description="Live stylized camera window. Keys: " + "  ".join(HELP))
    p.add_argument("--camera", default="0", metavar="INDEX|PATH|URL",
                   help="camera index, device, video file, stream URL, or 'synthetic' for a test scene (default: 0)")
    p.add_argument("--size", type=parse_size, metavar="WxH",
                   help="frame size (asked of the camera; frames are resized to it)")
    engine_options(p)
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
    OpenCVWindow.check()
    check_writable(args.output_dir / "rtstyle-snapshot.png")
    virtual_cam = VirtualCamera() if args.virtual_cam else None
    variant = _variant(args)
    names, first = style_order(args.style, variant)
    engine = make_engine(args, names, spin=LIVE_SPIN, trt_profile=LIVE_TRT_PROFILE)
    # The HUD shows the stroke size, and [ and ] change it from there.
    stroke = engine.stroke_size(engine.style_names[first])
    settings = LiveSettings(first_style=first, stroke=stroke, output_dir=args.output_dir,
                            hud=not args.no_hud, stabilize=args.stabilize)
    return open_source(args.camera, size=args.size), engine, settings, virtual_cam


def _variant(args: argparse.Namespace) -> str:
    """``auto``: the fast networks where inference will run on the CPU."""
    from rtstyle.engine import auto_variant

    return str(args.variant) if args.variant != "auto" else auto_variant(args.device)


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
