"""Does a second fast network meet issue 19's targets against the first one it replaces?

    python benchmarks/fast_v2_check.py V2.onnx [V2.onnx ...] [--photos 12] [--frames 60]

For each candidate file, against the installed v1 fast network of the same painting (``find_style``:
set ``RTSTYLE_MODELS`` to a folder that still holds v1 once v2 is installed):

- style: the Gram distance to the painting over the full network's held-out photos, relative to the
  full network (``export.quality.compare_fast``), v2 against v1; target within 5 % of v1's;
- steadiness: the warping error of ``benchmarks/temporal.py`` on the real clips of ``../shared``
  (``--frames`` frames at 640 px wide), per frame and with the stabilizer, as a multiple of v1's
  per-frame error; targets ≤ 0.7× and ≤ 0.45×.

Prints one Markdown row per network and clip. Needs torch (the VGG16 loss network).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from temporal import SHARED, read_frames, run  # noqa: E402

from export.quality import compare_fast  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import StyleInfo, find_style  # noqa: E402
from rtstyle.temporal import Stabilizer, warping_error  # noqa: E402

STYLE_TOLERANCE, PLAIN_TARGET, STEADY_TARGET = 0.05, 0.7, 0.45


def warping(style: StyleInfo, clips: dict[str, list]) -> dict[str, tuple[float, float]]:
    """Per clip: warping error per frame and with the stabilizer."""
    engine = Engine([style], EngineConfig(device="cpu"))
    return {name: (warping_error(frames, run(engine, frames, None)[0]),
                   warping_error(frames, run(engine, frames, Stabilizer())[0])) for name, frames in clips.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidates", nargs="+", type=Path)
    p.add_argument("--photos", type=int, default=12)
    p.add_argument("--frames", type=int, default=60)
    args = p.parse_args()
    paths = sorted(SHARED.glob("*.mp4")) + sorted(SHARED.glob("*.avi"))
    clips = {path.stem: read_frames(path, args.frames, 640) for path in paths}
    print("| network | Gram fast/full (v2 vs v1) | clip | v1 plain | v2 plain | v2 stab | plain ÷ v1 | stab ÷ v1 "
          "| passes |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    failed = 0
    for path in args.candidates:
        v2 = StyleInfo.from_file(path)
        v1, full = find_style(f"{v2.base}_fast"), find_style(v2.base)
        if v1.metadata.get("version", "1") != "1":
            p.error(f"{v1.path} is not a version 1 network: set RTSTYLE_MODELS to a folder that still holds v1")
        gram = [compare_fast(fast, full, photos=args.photos).ratio("gram") for fast in (v1, v2)]
        style_ok = gram[1] <= gram[0] * (1 + STYLE_TOLERANCE)
        old, new = warping(v1, clips), warping(v2, clips)
        for clip in clips:
            plain, steady = new[clip][0] / old[clip][0], new[clip][1] / old[clip][0]
            ok = style_ok and plain <= PLAIN_TARGET and steady <= STEADY_TARGET
            failed += not ok
            print(f"| {v2.name} | {gram[1]:.3f} vs {gram[0]:.3f} ({gram[1] / gram[0] - 1:+.1%}) | {clip} | "
                  f"{old[clip][0]:.5f} | {new[clip][0]:.5f} | {new[clip][1]:.5f} | {plain:.2f}× | {steady:.2f}× | "
                  f"{'yes' if ok else 'no'} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
