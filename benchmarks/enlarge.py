"""The enlargement of a working-size painting to full size, alone and inside ``Engine.stylize``.

``python benchmarks/enlarge.py [--against COMMIT] [--repeat 40]``

A held-out photo at 1920×1080 and 3840×2160, painted by starry_night_fast at the working size of
stroke size 1. Times (median, milliseconds) ``rtstyle.strokes.enlarge`` (BGR), ``enlarge_i420``
(the video path) and the whole ``Engine.stylize`` call. With ``--against``, the same with that
commit's ``rtstyle/strokes.py`` loaded beside this one, the two called in turn in one process (this
VM's speed drifts by tens of percent between runs, less within one), and the largest difference
between their pixels.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rtstyle.engine as engine_module  # noqa: E402
from export.contact_sheet import DEFAULT_CONTENT, held_out_photos  # noqa: E402
from rtstyle import strokes  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402

SIZES = ((1920, 1080), (3840, 2160))
MATRIX = 1  # BT.709


def strokes_at(commit: str) -> ModuleType:
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:rtstyle/strokes.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "strokes_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("strokes_then", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def calls(m: ModuleType, engine: Engine, frame: np.ndarray, work: np.ndarray, painted: np.ndarray,
          i420: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    """The three things timed, with strokes module ``m``."""
    def stylize() -> np.ndarray:
        engine_module.enlarge = m.enlarge  # what Engine.stylize calls
        return engine.stylize(frame)
    return {"enlarge": lambda: m.enlarge(painted, work, frame[None]),
            "enlarge_i420": lambda: m.enlarge_i420(painted, work, i420, MATRIX),
            "Engine.stylize": stylize}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", help="a commit whose rtstyle/strokes.py to time beside this one")
    p.add_argument("--repeat", type=int, default=40)
    args = p.parse_args()
    versions = {"now": strokes} | ({args.against: strokes_at(args.against)} if args.against else {})
    engine = Engine(["starry_night_fast"], EngineConfig(device="cpu"))
    photo = held_out_photos(DEFAULT_CONTENT, 1)[0]
    for width, height in SIZES:
        frame = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)
        work = strokes.shrink(frame[None], strokes.working_size(height, width, 1.0))
        painted = engine.paint(work)
        i420 = strokes.bgr_to_i420(frame[None], MATRIX)

        timed = {name: calls(m, engine, frame, work, painted, i420) for name, m in versions.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for name, ways in timed.items():
                for what, call in ways.items():
                    start = time.perf_counter()
                    call()
                    times.setdefault((what, name), []).append(time.perf_counter() - start)
        engine_module.enlarge = strokes.enlarge
        print(f"{width}x{height}:")
        for what in ("enlarge", "enlarge_i420", "Engine.stylize"):
            cells = "  ".join(f"{name} {np.median(times[what, name]) * 1e3:6.1f} ms" for name in versions)
            print(f"  {what:15s} {cells}")
        if args.against:
            outs = [ways["enlarge"]().astype(np.int16) for ways in timed.values()]
            yuv = [ways["enlarge_i420"]().astype(np.int16) for ways in timed.values()]
            print(f"  largest pixel difference: BGR {np.abs(outs[0] - outs[1]).max()}, "
                  f"I420 {np.abs(yuv[0] - yuv[1]).max()} levels")


if __name__ == "__main__":
    main()
