"""The live window (rtstyle/webcam.py): its threads without a display, then the real window under Xvfb.
The state machine it runs is rtstyle/live.py's, tested in test_live.py.

Run as a module (``python -m tests.test_webcam``), this file is the Xvfb tests' driver: it opens the
real window in its own process (Qt ends a process whose X server goes away, so the window never lives inside pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle import camera, sinks, webcam
from rtstyle.errors import InputError, OutputError, RtstyleError
from rtstyle.live import HOTKEYS, Shown
from rtstyle.synthetic import scene
from rtstyle.video import VideoReader
from rtstyle.webcam import LiveSettings, run_live
from tests.conftest import ROOT, close_to

SIZE = (64, 48)


# --- fakes: a camera, an engine and a display that presses keys ---------------------------------


class FakeCamera(camera.SyntheticSource):
    """The synthetic scene at a high rate; ``unplug_after`` frames it fails every read, as a
    camera pulled out mid-run does; ``blank`` never sends a frame."""

    def __init__(self, *, fps: float = 200.0, unplug_after: int | None = None, blank: bool = False):
        super().__init__(size=SIZE, fps=fps)
        self.name = "fake camera"
        self.unplug_after = 0 if blank else unplug_after
        self.closed = False

    def read(self) -> np.ndarray | None:
        if self.unplug_after is not None and self.index >= self.unplug_after:
            time.sleep(0.005)
            return None
        return super().read()

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Adds a different constant per style, optionally slowly; or raises."""

    provider = "CPUExecutionProvider"
    style_names = ["a", "b", "c"]

    def __init__(self, *, seconds: float = 0.0, error: Exception | None = None):
        self.seconds, self.error = seconds, error

    def stylize(self, frame: np.ndarray, style: str | None = None, **_: object) -> np.ndarray:
        if self.error:
            raise self.error
        time.sleep(self.seconds)
        return frame + np.uint8(40 * (1 + self.style_names.index(style or "a")))


@dataclass
class ScriptedDisplay:
    """Presses ``keys`` one by one, each once ``every`` new frames were shown since the last;
    logs ("key", code) and ("shown", Shown) in order (the latter through ``on_shown``)."""

    keys: Sequence[int | str]
    every: int = 3
    events: list[tuple[str, object]] = field(default_factory=list)
    fullscreen: list[bool] = field(default_factory=list)
    opened: bool = False
    _since: int = 0

    def __enter__(self) -> ScriptedDisplay:
        self.opened = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.opened = False

    def show(self, image: np.ndarray) -> None:
        self._since += 1

    def on_shown(self, shown: Shown) -> None:
        self.events.append(("shown", shown))

    def poll_key(self, wait_ms: int) -> int:
        if self._since < self.every or len(self.keys) == self.pressed:
            return -1
        key = self.keys[self.pressed]
        code = ord(key) if isinstance(key, str) else key
        self.events.append(("key", code))
        self._since = 0
        return code

    @property
    def pressed(self) -> int:
        return sum(kind == "key" for kind, _ in self.events)

    def shown_after(self, n_keys: int) -> list[Shown]:
        """Frames shown after the ``n_keys``-th key press (and before the next)."""
        out, seen = [], 0
        for kind, item in self.events:
            seen += kind == "key"
            if kind == "shown" and seen == n_keys:
                out.append(item)
        return out  # type: ignore[return-value]

    def is_open(self) -> bool:
        return self.opened

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen.append(on)


def live(source: camera.FrameSource, engine: object, display: ScriptedDisplay, **settings: object
         ) -> webcam.LiveResult:
    return run_live(source, engine, display, LiveSettings(**settings), on_shown=display.on_shown)  # type: ignore[arg-type]


@pytest.fixture()
def engine(tiny_models: list[str]):
    from rtstyle.engine import Engine, EngineConfig

    return Engine(tiny_models, EngineConfig(device="cpu", threads=1))


def recorded(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return list(reader)


RECORDING_TOLERANCE = 12  # mean absolute difference (0–255) H.264 4:2:0 leaves on a 64×48 frame: 2-7 measured


def all_recorded(shown: Sequence[np.ndarray], frames: Sequence[np.ndarray]) -> bool:
    """Whether every shown image is one of the recorded ``frames``, up to what the encoder changes
    (a black recording, or one of the camera's unpainted frames, is 70 or more away)."""
    nearest = [min(float(np.abs(f.astype(np.int16) - image).mean()) for f in frames) for image in shown]
    return bool(shown) and max(nearest) < RECORDING_TOLERANCE


# --- the window's drawing -----------------------------------------------------------------------


def test_hud_draws_on_a_copy() -> None:
    frame = scene(0, 320, 180)
    out = webcam.draw_hud(frame, ["1/3 tiny_a", "30.0 fps  5 ms  CPU"], recording=True)
    assert out.shape == frame.shape and not np.array_equal(out, frame)
    assert np.array_equal(frame, scene(0, 320, 180))


# --- threads and the window loop, without a display -------------------------------------------


def test_slow_inference_takes_the_newest_frame_not_a_backlog() -> None:
    camera, display = FakeCamera(fps=500), ScriptedDisplay(keys=["q"], every=6)
    live(camera, FakeEngine(seconds=0.03), display)
    indices = [s.index for s in display.shown_after(0)]
    assert len(indices) == 6 and indices == sorted(indices)
    assert max(np.diff(indices)) > 1, "frames that arrived during inference should be skipped"
    assert camera.index > indices[-1] + 1


def test_a_key_switches_the_style_on_the_next_shown_frame(engine) -> None:
    display = ScriptedDisplay(keys=["2", 65363, "q"], every=3)
    live(FakeCamera(fps=60), engine, display)
    for n_keys, style in ((1, "tiny_b"), (2, "tiny_c")):
        first = display.shown_after(n_keys)[0]
        assert close_to(first.image, engine.stylize(first.original, style=style))
        previous = engine.style_names[display.shown_after(n_keys - 1)[-1].look.style]
        assert not close_to(first.image, engine.stylize(first.original, style=previous))


def test_quit_closes_the_window_and_releases_the_camera_within_a_second() -> None:
    camera, display = FakeCamera(), ScriptedDisplay(keys=["q"], every=2)
    began = time.monotonic()
    result = live(camera, FakeEngine(), display)
    assert camera.closed and not display.opened
    assert result.frames_shown == 2
    assert time.monotonic() - began < 5  # generous: the point is that nothing hangs


def test_unplugged_camera_is_a_clear_error_not_a_hang() -> None:
    camera, display = FakeCamera(unplug_after=10), ScriptedDisplay(keys=[])
    began = time.monotonic()
    with pytest.raises(InputError, match=r"fake camera stopped sending frames .* \(unplugged"):
        live(camera, FakeEngine(), display, stall_seconds=0.3)
    assert time.monotonic() - began < 5
    assert camera.closed and not display.opened


def test_opencv_camera_that_stops_is_a_clear_error_and_is_released(clip) -> None:
    source = camera.CameraSource(str(clip(frames=5, audio=False)))  # OpenCV's reads fail at the end, as when unplugged
    with pytest.raises(InputError, match=r"camera \S+in.mp4 stopped sending frames"):
        live(source, FakeEngine(), ScriptedDisplay(keys=[]), stall_seconds=0.3)
    assert not source._capture.isOpened()


def test_camera_that_sends_nothing_is_a_clear_error() -> None:
    camera = FakeCamera(blank=True)
    with pytest.raises(InputError, match="fake camera opened but sent no frame in 0.3 s"):
        live(camera, FakeEngine(), ScriptedDisplay(keys=[]), first_frame_seconds=0.3)
    assert camera.closed


def test_an_inference_error_stops_everything_and_is_raised() -> None:
    camera, display = FakeCamera(), ScriptedDisplay(keys=[])
    with pytest.raises(RtstyleError, match="boom"):
        live(camera, FakeEngine(error=RtstyleError("boom")), display)
    assert camera.closed and not display.opened


def test_snapshot_recording_and_fullscreen(engine, tmp_path: Path) -> None:
    display = ScriptedDisplay(keys=["s", "r", "c", "r", "f", "q"], every=4)
    result = live(FakeCamera(fps=60), engine, display, output_dir=tmp_path)
    (png,), (mp4,) = result.snapshots, result.recordings
    assert png.suffix == ".png"
    np.testing.assert_array_equal(cv2.imread(str(png)), display.shown_after(0)[-1].image)  # the frame on screen
    frames = recorded(mp4)
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)
    # A frame shown just after ``r`` may have been rendered before it; the later ones were recorded.
    assert all_recorded([s.image for s in display.shown_after(2)[2:] + display.shown_after(3)], frames)
    assert display.fullscreen == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([png.name, mp4.name])  # no partial file left


def test_recording_still_on_at_quit_is_kept(tmp_path: Path) -> None:
    display = ScriptedDisplay(keys=["r", "q"], every=5)
    result = live(FakeCamera(), FakeEngine(), display, output_dir=tmp_path)
    assert all_recorded([s.image for s in display.shown_after(1)[2:]], recorded(result.recordings[0]))


def test_window_paints_at_the_stroke_size(engine) -> None:
    display = ScriptedDisplay(keys=["q"], every=3)
    live(FakeCamera(fps=60), engine, display, stroke=2.0)
    for shown in display.shown_after(0):
        assert close_to(shown.image, engine.stylize(shown.original, style="tiny_a", stroke=2.0))
        assert not np.array_equal(shown.image, engine.stylize(shown.original, style="tiny_a"))  # the model's own: 4
        assert np.abs(shown.image.astype(np.int16) - shown.original).mean() > 20


# --- sources ---------------------------------------------------------------------------------


def test_file_camera_loops_at_its_size(clip) -> None:
    source = camera.open_source(str(clip(frames=4, fps=100, audio=False)), size=(32, 24))
    frames = [f for f in (source.read() for _ in range(10)) if f is not None]
    source.close()
    assert len(frames) == 10 and all(f.shape == (24, 32, 3) for f in frames)
    assert close_to(frames[0], frames[4]), "the file should start again after its last frame"


def test_synthetic_camera() -> None:
    source = camera.open_source("synthetic", size=SIZE)
    assert source.read().shape == (SIZE[1], SIZE[0], 3)  # type: ignore[union-attr]



def test_scene_frames_are_fresh_arrays() -> None:
    """The still parts are rendered once per size: drawing on one frame must not reach the next."""
    first = scene(0, *SIZE)
    first[:] = 0
    assert scene(0, *SIZE).mean() > 50
    assert not np.array_equal(scene(0, *SIZE), scene(30, *SIZE))  # the hills and boat move


def test_live_engine_does_not_spin(tiny_models: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture and window threads share the cores with inference (LIVE_SPIN)."""
    monkeypatch.setattr(webcam.OpenCVWindow, "check", staticmethod(lambda: None))
    parser = argparse.ArgumentParser()
    webcam.add_parser(parser.add_subparsers())
    args = parser.parse_args(["webcam", "--camera", "synthetic", "--device", "cpu", "--output-dir", str(tmp_path)])
    source, engine, _, _ = webcam.prepare(args)
    source.close()
    assert engine.config.spin is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("spec", "message"), [
    ("no/such/clip.mp4", "no camera, video file or device at 'no/such/clip.mp4'"),
    ("63", "cannot open camera 63 .*synthetic"),
])
def test_camera_that_cannot_be_opened(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        camera.open_source(spec)


def test_missing_virtual_camera_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(OutputError, match=r"pip install 'rtstyle\[virtualcam\]'"):
        sinks.VirtualCamera()


def test_virtual_camera_without_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", FakeVirtualCam(error="'v4l2loopback' module isn't loaded"))
    camera = FakeCamera()
    with pytest.raises(OutputError, match="no virtual camera backend .*modprobe v4l2loopback"):
        run_live(camera, FakeEngine(), ScriptedDisplay(keys=[]), LiveSettings(), virtual_cam=sinks.VirtualCamera())
    assert camera.closed


def test_virtual_camera_gets_the_rendered_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    module = FakeVirtualCam()
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    display = ScriptedDisplay(keys=["q"], every=3)
    run_live(FakeCamera(), FakeEngine(), display, LiveSettings(), virtual_cam=sinks.VirtualCamera(),
             on_shown=display.on_shown)
    assert module.opened == [(SIZE[0], SIZE[1])] and module.sent >= 3 and module.closed


class FakeVirtualCam:
    """Stands in for the ``pyvirtualcam`` module."""

    class PixelFormat:
        BGR = "bgr"

    def __init__(self, error: str | None = None):
        self.error, self.sent, self.closed = error, 0, False
        self.opened: list[tuple[int, int]] = []

    def Camera(self, *, width: int, height: int, fps: float, fmt: str) -> FakeVirtualCam:  # noqa: N802
        if self.error:
            raise RuntimeError(self.error)
        self.opened.append((width, height))
        self.device = "/dev/video9"
        return self

    def send(self, image: np.ndarray) -> None:
        self.sent += 1

    def close(self) -> None:
        self.closed = True


def test_no_display_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RtstyleError, match="needs a display"):
        webcam.OpenCVWindow.check()


def test_all_styles_load_and_style_chooses_the_first(tiny_models: list[str]) -> None:
    assert webcam.style_order("tiny_b") == (tiny_models, 1)
    assert webcam.style_order(None) == (tiny_models, 0)


# --- the real window under Xvfb, keys sent with xdotool -----------------------------------------


@pytest.fixture(scope="module")
def xserver() -> Iterator[dict[str, str]]:
    """A private Xvfb display; the environment a window process needs to use it."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install xvfb xdotool)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    number = _read_line(read, timeout=20)  # the read end stays open until the whole line is in: Xvfb
    os.close(read)  # exits when it cannot write its trailing newline
    if not number:
        server.kill()
        pytest.fail("Xvfb did not start within 20 s")
    yield {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    server.terminate()
    server.wait(10)


def _read_line(fd: int, timeout: float) -> str:
    data, deadline = b"", time.monotonic() + timeout
    while not data.endswith(b"\n") and select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(fd, 16)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


class RealWindow:
    """``rtstyle webcam`` in a child process (this file run as a module), driven with xdotool."""

    def __init__(self, env: dict[str, str], folder: Path, models: Path, *args: str):
        self.env = {**os.environ, **env, "RTSTYLE_MODELS": str(models)}
        self.log, self.dump, self.stderr = folder / "events.jsonl", folder / "shown.pickle", folder / "stderr.txt"
        command = [sys.executable, "-m", __spec__.name, str(self.log), str(self.dump), "--camera", "synthetic",
                   "--size", f"{SIZE[0]}x{SIZE[1]}", "--output-dir", str(folder), *args]
        with self.stderr.open("w") as stderr:
            self.process = subprocess.Popen(command, env=self.env, stderr=stderr, cwd=ROOT)  # ROOT: where ``tests`` is
        self.wait_for(lambda events: any("shown" in e for e in events))
        self.window = self._xdotool("search", "--onlyvisible", "--name", "^rtstyle$").split()[0]

    def press(self, key: str, then_frames: int = 2) -> None:
        """Press ``key`` in the window, then wait until ``then_frames`` frames were shown after it."""
        keys = _count(self.events(), "key")
        # Sent to the window itself: with no window manager, focus changes race the first key.
        self._xdotool("key", "--window", self.window, key)
        self.wait_for(lambda events: _count(events, "key") > keys and _shown_since_last_key(events) >= then_frames)

    def quit(self) -> dict[str, object]:
        self._xdotool("key", "--window", self.window, "q")
        assert self.process.wait(timeout=30) == 0, self.stderr.read_text()
        return pickle.loads(self.dump.read_bytes())

    def wait_for(self, ready: Callable[[list[dict[str, object]]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self.events()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the window did not get there: {self.stderr.read_text()[-2000:]}")
            time.sleep(0.05)

    def events(self) -> list[dict[str, object]]:
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def _xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, check=True,
                              timeout=30).stdout

    def __enter__(self) -> RealWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _count(events: list[dict[str, object]], kind: str) -> int:
    return sum(kind in event for event in events)


def _shown_since_last_key(events: list[dict[str, object]]) -> int:
    count = 0
    for event in events:
        count = 0 if "key" in event else count + ("shown" in event)
    return count


@pytest.fixture()
def window(xserver: dict[str, str], tiny_model_dir: Path, tiny_models: list[str], tmp_path: Path):
    def start(*args: str) -> RealWindow:
        return RealWindow(xserver, tmp_path, tiny_model_dir, *args)
    return start


def test_real_window_switches_style_on_the_next_frame_and_quits(window, engine) -> None:
    with window("--style", "tiny_a") as w:
        w.press("2")
        w.press("Right")
        result = w.quit()
    shown = result["shown"]
    for key, style in ((ord("2"), "tiny_b"), (65363, "tiny_c")):
        first = next(s for s in shown if s["after_key"] == key)
        assert close_to(first["image"], engine.stylize(first["original"], style=style))
    assert result["quit_seconds"] < 1.0 and result["camera_closed"]


def test_real_window_s_saves_the_frame_on_screen(window, tmp_path: Path) -> None:
    with window() as w:
        w.press("s")
        shown = w.quit()["shown"]
    (png,) = tmp_path.glob("*.png")
    after = next(i for i, s in enumerate(shown) if s["after_key"] == ord("s"))
    np.testing.assert_array_equal(cv2.imread(str(png)), shown[after - 1]["image"])


def test_real_window_r_twice_records_what_it_shows(window, tmp_path: Path) -> None:
    with window() as w:
        w.press("r", then_frames=5)
        w.press("r")
        shown = w.quit()["shown"]
    (mp4,) = tmp_path.glob("*.mp4")
    start, stop = (i for i, s in enumerate(shown) if s["after_key"] == ord("r"))
    assert all_recorded([s["image"] for s in shown[start + 2:stop]], recorded(mp4))


def test_fast_variant_is_picked_per_painting(tmp_path, monkeypatch) -> None:
    from rtstyle.models import StyleInfo, pick_variant
    from rtstyle.webcam import style_order

    full = [StyleInfo(n, tmp_path / f"{n}.onnx", {"variant": "full"}) for n in ("a", "b")]
    fast = [StyleInfo("a_fast", tmp_path / "a_fast.onnx", {"variant": "fast", "base_style": "a"})]
    assert [s.name for s in pick_variant(full + fast, "fast")] == ["a_fast", "b"]
    assert [s.name for s in pick_variant(fast + full, "full")] == ["a", "b"]
    monkeypatch.setattr("rtstyle.models.installed_styles", lambda: full + fast)
    monkeypatch.setattr("rtstyle.models.find_style", lambda name: next(s for s in full + fast if s.name == name))
    assert style_order("a", "fast") == (["a_fast", "b"], 0)
    assert style_order("b", "fast") == (["a_fast", "b"], 1)
    assert style_order("a_fast", "full") == (["a", "b"], 0)



def _drive(log_path: str, dump_path: str, *argv: str) -> None:
    """The child process of :class:`RealWindow`: ``rtstyle webcam ARGV``, logging each key and
    shown frame as it happens, and pickling what the test checks at the end."""
    parser = argparse.ArgumentParser()
    webcam.add_parser(parser.add_subparsers())
    args = parser.parse_args(["webcam", *argv])
    source, engine, settings, _ = webcam.prepare(args)
    shown: list[dict[str, object]] = []
    state: dict[str, object] = {"key": None, "pressed": 0.0, "closed": False}
    close = source.close

    def close_and_note() -> None:
        close()
        state["closed"] = True

    source.close = close_and_note  # type: ignore[method-assign]
    with open(log_path, "w", buffering=1) as log:

        class LoggingWindow(webcam.OpenCVWindow):
            def poll_key(self, wait_ms: int) -> int:
                key = super().poll_key(wait_ms)
                if key in HOTKEYS:
                    state.update(key=key, pressed=time.monotonic())
                    log.write(json.dumps({"key": key}) + "\n")
                return key

        def on_shown(s: Shown) -> None:
            shown.append({"after_key": state["key"], "style": s.look.style, "image": s.image, "original": s.original})
            state["key"] = None
            log.write(json.dumps({"shown": s.look.style}) + "\n")

        run_live(source, engine, LoggingWindow(), settings, on_shown=on_shown)
    quit_seconds = time.monotonic() - state["pressed"]  # type: ignore[operator]
    Path(dump_path).write_bytes(pickle.dumps({"shown": shown, "quit_seconds": quit_seconds,
                                              "camera_closed": state["closed"]}))


if __name__ == "__main__":
    _drive(*sys.argv[1:])
