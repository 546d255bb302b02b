"""Style switch latency and displayed fps of the live window (key press → first shown frame of
the new style; frames handed to the window per second, end to end: capture, inference, display).

Runs :func:`rtstyle.webcam.run_live` with the synthetic camera and a display (no window, or the
real one with ``--window``) that presses ``n`` once a few frames of the current style were shown,
and times from the key (as the window loop reads it) to the first frame of the next style shown.

    python benchmarks/webcam_switch.py [--size 640x480] [--switches 20] [--device cpu] [--full]
                                       [--variant full|fast] [--camera-fps 30] [--window]

A camera faster than the loop (``--camera-fps 120``) shows the loop's own ceiling.

Uses the installed styles; with fewer than two, two random-weight full-size networks (needs
PyTorch), which cost the same to run as trained ones.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rtstyle.camera import SyntheticSource
from rtstyle.engine import Engine, EngineConfig
from rtstyle.live import LIVE_SPIN, Shown
from rtstyle.models import installed_styles
from rtstyle.options import parse_size
from rtstyle.webcam import LiveSettings, OpenCVWindow, run_live


class SwitchingDisplay:
    """Presses ``n`` after ``settle`` frames of each style, ``q`` after ``switches``; shows the
    frames in ``window`` (the real OpenCV window) when given, else nowhere."""

    def __init__(self, switches: int, settle: int = 3, window: OpenCVWindow | None = None):
        self.switches, self.settle, self.window = switches, settle, window
        self.latencies: list[float] = []
        self.infer_ms: list[float] = []
        self._pressed_at: float | None = None
        self._since = 0

    def __enter__(self) -> SwitchingDisplay:
        if self.window:
            self.window.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.window:
            self.window.__exit__(*exc)

    def show(self, image: np.ndarray) -> None:
        if self.window:
            self.window.show(image)

    def poll_key(self, wait_ms: int) -> int:
        if self.window:
            self.window.poll_key(wait_ms)  # runs the GUI's event loop, as the live window does
        if self._pressed_at is not None or self._since < self.settle:
            return -1
        if len(self.latencies) == self.switches:
            return ord("q")
        self._pressed_at = time.perf_counter()
        return ord("n")

    def on_shown(self, shown: Shown) -> None:
        """Only frames of the current style reach the window, so the first after a key is the new one."""
        self.infer_ms.append(shown.infer_ms)
        if self._pressed_at is None:
            self._since += 1
            return
        self.latencies.append(time.perf_counter() - self._pressed_at)
        self._pressed_at, self._since = None, 0

    def is_open(self) -> bool:
        return True

    def set_fullscreen(self, on: bool) -> None:
        pass


def style_paths(folder: Path, variant: str) -> list[str]:
    styles = [s for s in installed_styles() if s.variant == variant]
    if len(styles) >= 2:
        return [str(s.path) for s in styles[:3]]
    import torch

    from rtstyle.training.onnx_export import export_onnx
    from rtstyle.training.transformer_net import network_for

    paths = []
    for seed in range(2):
        torch.manual_seed(seed)
        paths.append(str(export_onnx(network_for(variant).eval(), folder / f"random{seed}.onnx", precision="fp32",
                                     metadata={"style": f"random{seed}"})))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=(640, 480))
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stroke-size", type=float, help="stroke size (default: each style's own)")
    parser.add_argument("--variant", choices=("full", "fast"), default="full")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime's CPU threads (0: all cores)")
    parser.add_argument("--window", action="store_true",
                        help="show the frames in the real window (needs a display; xvfb-run works)")
    parser.add_argument("--camera-fps", type=float, default=30.0, help="rate of the synthetic camera")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = EngineConfig(device=args.device, threads=args.threads, spin=LIVE_SPIN)  # as `rtstyle webcam`
        engine = Engine(style_paths(Path(tmp), args.variant), config)
    display = SwitchingDisplay(args.switches, window=OpenCVWindow() if args.window else None)
    began = time.perf_counter()
    run_live(SyntheticSource(size=args.size, fps=args.camera_fps), engine, display,
             LiveSettings(stroke=args.stroke_size), on_shown=display.on_shown)
    seconds = time.perf_counter() - began
    ms = sorted(1000 * s for s in display.latencies)
    print(f"{engine.provider}, {args.variant} networks, {args.size[0]}x{args.size[1]} camera at "
          f"{args.camera_fps:g} fps, stylized at "
          f"stroke size {engine.stroke_size(stroke=args.stroke_size):g}, {len(ms)} switches, "
          f"{'shown in a window' if args.window else 'no window'}")
    print(f"inference: median {statistics.median(display.infer_ms):.0f} ms; "
          f"displayed: {len(display.infer_ms) / seconds:.1f} fps over {seconds:.1f} s")
    print(f"switch latency (key → first frame of the new style): median {statistics.median(ms):.0f} ms, "
          f"max {ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()
