"""The diagonal hatch in calm regions, as numbers: what each network paints where the photo is calm.

``python benchmarks/hatch.py [MODEL ...] [--photos 28]`` (default: every installed network)

Held-out photos (../shared's training folder, every 50th) at 640×360's area, painted by the network
alone (``Engine.paint``, the working size of stroke size 1). Calm: where the photo's local standard
deviation (σ = 6 px) is under 4 levels: skies, water, walls. Photos with less than 5 % calm are
left out. For each network, the median over the photos of

- texture: the output's high-pass (minus a σ = 3 blur) root mean square in the calm regions, in
  levels: how much the network paints where the photo gives it nothing to follow;
- diagonal share: of that high-pass's spectral energy (above 1/32 cycle per pixel), the share in
  the two diagonal sectors (45° and 135°, ±22.5°). 0.5 is no preferred direction; the hatch (a
  checkerboard of the quarter-size features brought up to full size, docs/training.md) pushes it up;
- phase: how much the painting changes when the photo moves by 2 pixels, half a cell of the
  network's quarter-size grid (mean absolute difference in levels between the painting of the moved
  photo and the painting moved, away from the borders). A network that follows its input scores
  near 0; the shipped ones score 7-25 (moved by 4 pixels, a whole cell: under 0.6).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from export.contact_sheet import DEFAULT_CONTENT, held_out_photos  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import installed_styles  # noqa: E402

CALM_LEVELS = 4.0
AREA = 640 * 360


def working(photo: np.ndarray) -> np.ndarray:
    h, w = photo.shape[:2]
    f = (AREA / (h * w)) ** 0.5
    return cv2.resize(photo, (round(w * f) // 4 * 4, round(h * f) // 4 * 4), interpolation=cv2.INTER_CUBIC)


def calm_mask(photo: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.GaussianBlur(grey, (0, 0), 6)
    spread = np.sqrt(np.maximum(cv2.GaussianBlur(grey * grey, (0, 0), 6) - mean * mean, 0))
    return spread < CALM_LEVELS


def hatch(painted: np.ndarray, calm: np.ndarray) -> tuple[float, float]:
    """(texture in levels, diagonal share) of ``painted`` inside ``calm``."""
    grey = cv2.cvtColor(painted, cv2.COLOR_BGR2GRAY).astype(np.float32)
    high = grey - cv2.GaussianBlur(grey, (0, 0), 3)
    texture = float(np.sqrt((high[calm] ** 2).mean()))
    power = np.abs(np.fft.fft2(high * calm)) ** 2
    fy, fx = np.fft.fftfreq(high.shape[0])[:, None], np.fft.fftfreq(high.shape[1])[None, :]
    angle = np.degrees(np.arctan2(fy, fx)) % 180
    band = np.hypot(fx, fy) > 1 / 32
    diagonal = ((np.abs(angle - 45) < 22.5) | (np.abs(angle - 135) < 22.5)) & band
    return texture, float(power[diagonal].sum() / power[band].sum())


def phase(engine: Engine, picture: np.ndarray, shift: int = 2, border: int = 16) -> float:
    """Levels the painting changes by when ``picture`` moves ``shift`` pixels right and down."""
    h, w = (picture.shape[0] - shift) // 4 * 4, (picture.shape[1] - shift) // 4 * 4
    moved = engine.paint(np.ascontiguousarray(picture[shift:shift + h, shift:shift + w])[None])[0]
    still = engine.paint(picture[None])[0][shift:shift + h, shift:shift + w]
    inside = (slice(border, -border), slice(border, -border))
    return float(np.abs(moved.astype(np.float32) - still)[inside].mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="style names or .onnx files (default: every installed network)")
    p.add_argument("--photos", type=int, default=28)
    p.add_argument("--content-dir", default=str(DEFAULT_CONTENT))
    args = p.parse_args()
    pictures = [working(photo) for photo in held_out_photos(Path(args.content_dir), args.photos)]
    scenes = [(picture, mask) for picture in pictures if (mask := calm_mask(picture)).mean() >= 0.05]
    print(f"{len(scenes)} of {len(pictures)} held-out photos have calm regions (local spread < {CALM_LEVELS:g} levels)")
    print("| network | calm texture (levels) | diagonal share | phase (levels) |\n|---|---:|---:|---:|")
    for model in args.models or [s.name for s in installed_styles()]:
        engine = Engine([model], EngineConfig(device="cpu"))
        scores = [hatch(engine.paint(picture[None])[0], mask) for picture, mask in scenes]
        print(f"| {model} | {statistics.median(s[0] for s in scores):.1f} | "
              f"{statistics.median(s[1] for s in scores):.2f} | "
              f"{statistics.median(phase(engine, picture) for picture, _ in scenes):.1f} |", flush=True)


if __name__ == "__main__":
    main()
