"""Training photos: random square crops with horizontal flips, reproducible per step."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from rtstyle.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_images(folder: str | Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise InputError(f"not a folder: {folder}")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def split_holdout(files: list[Path], every: int) -> tuple[list[Path], list[Path]]:
    """Every ``every``-th photo (sorted by name) is held out for evaluation and samples."""
    held = files[::every]
    return [f for f in files if f not in set(held)], held


def load_rgb(path: str | Path, *, short_side: int | None = None, long_side: int | None = None) -> np.ndarray:
    """Read an image as uint8 RGB H×W×3, optionally resized by its short or long side."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if bgr is None:
        raise InputError(f"cannot read image {path}")
    h, w = bgr.shape[:2]
    side = short_side / min(h, w) if short_side else long_side / max(h, w) if long_side else 1.0
    if side != 1.0:
        interp = cv2.INTER_AREA if side < 1 else cv2.INTER_CUBIC
        bgr = cv2.resize(bgr, (round(w * side), round(h * side)), interpolation=interp)
    return np.ascontiguousarray(bgr[..., ::-1])


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB H×W×3 (or N×H×W×3) → float N×3×H×W, values 0–255."""
    batch = rgb[None] if rgb.ndim == 3 else rgb
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()


class CropSampler:
    """Holds the photos in memory and draws batches of random crops.

    The batch for a step depends only on (seed, step), so a resumed run sees exactly the
    batches an uninterrupted one would have.
    """

    def __init__(self, files: list[Path], *, crop: int, short_side: int, seed: int):
        if short_side < crop:
            raise ValueError(f"photos resized to {short_side} px cannot give {crop} px crops")
        self.images = [load_rgb(f, short_side=short_side) for f in files]
        self.crop = crop
        self.seed = seed

    def batch(self, step: int, size: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step])
        crops = []
        for i in rng.integers(len(self.images), size=size):
            img = self.images[i]
            y = rng.integers(img.shape[0] - self.crop + 1)
            x = rng.integers(img.shape[1] - self.crop + 1)
            crop = img[y : y + self.crop, x : x + self.crop]
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        return to_tensor(np.stack(crops))

