"""Warping error and throughput of plain vs stabilized stylization, per clip.

    python benchmarks/temporal.py [--style NAME] [--frames 60] [--width 640] [--strip docs/temporal_strip.png] CLIP...

With no CLIP it uses ../shared/data/video/*.mp4|avi when present, and a synthetic clip.
Prints one row per clip: warping error plain, stabilized, their ratio, and fps of both.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rtstyle.engine import Engine, EngineConfig
from rtstyle.models import default_style, find_style
from rtstyle.synthetic import write_clip
from rtstyle.temporal import Stabilizer, StabilizerConfig, warping_error
from rtstyle.video import VideoReader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def read_frames(path: Path, count: int, width: int) -> list[np.ndarray]:
    frames = []
    with VideoReader(path) as reader:
        for frame in reader:
            h, w = frame.shape[:2]
            frames.append(cv2.resize(frame, (width, round(h * width / w / 2) * 2), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def run(engine: Engine, frames: list[np.ndarray], stabilizer: Stabilizer | None) -> tuple[list[np.ndarray], float]:
    outputs = []
    start = time.perf_counter()
    for frame in frames:
        out = engine.stylize(frame)
        outputs.append(stabilizer.process(frame, out) if stabilizer else out)
    return outputs, len(frames) / (time.perf_counter() - start)


def strip(frames: list[np.ndarray], plain: list[np.ndarray], steady: list[np.ndarray], path: Path) -> None:
    """Rows: input, plain, stabilized; five consecutive frames from the middle."""
    mid = len(frames) // 2
    picks = range(mid, min(len(frames), mid + 5))
    rows = [np.hstack([cv2.resize(seq[i], (256, 256 * seq[i].shape[0] // seq[i].shape[1])) for i in picks])
            for seq in (frames, plain, steady)]
    for row, label in zip(rows, ("input", "per-frame", "--stabilize"), strict=True):
        cv2.putText(row, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="*", type=Path)
    p.add_argument("--style")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--strength", type=float, default=StabilizerConfig().strength)
    p.add_argument("--strip", type=Path, help="write a PNG strip of the first clip's frames")
    args = p.parse_args()
    clips = args.clips or sorted(SHARED.glob("*.mp4")) + sorted(SHARED.glob("*.avi"))
    with tempfile.TemporaryDirectory() as tmp:
        clips = clips + ([] if args.clips else [write_clip(Path(tmp) / "synthetic.mp4", width=640, height=360,
                                                           frames=args.frames, audio=False)])
        engine = Engine([find_style(args.style) if args.style else default_style()], EngineConfig(device="cpu"))
        print(f"style {engine.style}, {engine.provider}, {args.frames} frames at width {args.width}, "
              f"strength {args.strength}")
        print(f"{'clip':<32} {'err plain':>10} {'err stab':>10} {'ratio':>6} {'fps plain':>9} {'fps stab':>9}")
        for i, clip in enumerate(clips):
            frames = read_frames(clip, args.frames, args.width)
            plain, fps_plain = run(engine, frames, None)
            steady, fps_steady = run(engine, frames, Stabilizer(StabilizerConfig(strength=args.strength)))
            e_plain, e_steady = warping_error(frames, plain), warping_error(frames, steady)
            print(f"{clip.name:<32} {e_plain:10.5f} {e_steady:10.5f} {e_steady / e_plain:6.2f} "
                  f"{fps_plain:9.2f} {fps_steady:9.2f}")
            if args.strip and i == 0:
                strip(frames, plain, steady, args.strip)


if __name__ == "__main__":
    main()
