"""Training content: photos from folders and frames sampled across videos, held in memory, and
random square crops of them with horizontal flips, reproducible per step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch

from rtstyle.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
T = TypeVar("T")
MIN_DISTINCT = 50  # fewer content images than this and a network learns the photos, not the painting


def list_images(folder: str | Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise InputError(f"not a folder: {folder}")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def split_holdout(items: list[T], every: int) -> tuple[list[T], list[T]]:
    """Every ``every``-th item (photos sorted by name) is held out for evaluation and samples."""
    return [x for i, x in enumerate(items) if i % every], items[::every]


def load_rgb(path: str | Path, *, short_side: int | None = None, long_side: int | None = None) -> np.ndarray:
    """Read an image as uint8 RGB H×W×3, optionally resized by its short or long side."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if bgr is None:
        raise InputError(f"cannot read image {path}")
    return resized(np.ascontiguousarray(bgr[..., ::-1]), short_side=short_side, long_side=long_side)


def resized(image: np.ndarray, *, short_side: int | None = None, long_side: int | None = None) -> np.ndarray:
    h, w = image.shape[:2]
    side = short_side / min(h, w) if short_side else long_side / max(h, w) if long_side else 1.0
    if side == 1.0:
        return image
    interp = cv2.INTER_AREA if side < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (round(w * side), round(h * side)), interpolation=interp)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB H×W×3 (or N×H×W×3) → float N×3×H×W, values 0–255."""
    batch = rgb[None] if rgb.ndim == 3 else rgb
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()


def load_content(sources: list[str | Path] | tuple[str, ...], *, short_side: int, frames_per_video: int = 200,
                 minimum: int = MIN_DISTINCT) -> list[np.ndarray]:
    """uint8 RGB images, short side ``short_side``, from folders of photos and from video files.

    A folder gives its photos sorted by name; a video gives ``frames_per_video`` frames spread
    evenly over its length. Duplicates (the same picture twice, a still scene in a video) count
    once: fewer than ``minimum`` distinct images is an :class:`InputError` that says how many.
    """
    if not sources:
        raise InputError("no content given: name folders of photos or video files to learn from")
    images: list[np.ndarray] = []
    seen: set[bytes] = set()
    for source in map(Path, sources):
        if source.is_dir():
            pictures = (load_rgb(f, short_side=short_side) for f in list_images(source))
        elif source.is_file():
            pictures = _video_frames(source, short_side, frames_per_video)
        else:
            raise InputError(f"content not found: {source}")
        for rgb in pictures:
            key = _likeness(rgb)
            if key not in seen:
                seen.add(key)
                images.append(rgb)
    if len(images) < minimum:
        raise InputError(f"only {len(images)} distinct content images found in {', '.join(map(str, sources))}; "
                         f"training needs at least {minimum} (more photos, or a longer video)")
    return images


def _video_frames(path: Path, short_side: int, count: int) -> Iterator[np.ndarray]:
    from rtstyle.video import VideoReader

    with VideoReader(path) as reader:
        total = reader.info.frame_count or round(reader.duration_seconds() * float(reader.info.fps))
        every = max(1, total // count)
        for i, bgr in enumerate(reader):
            if i % every == 0:
                yield resized(np.ascontiguousarray(bgr[..., ::-1]), short_side=short_side)


def _likeness(rgb: np.ndarray) -> bytes:
    """Equal for the same picture at another size or compression: 16×16 grey, 16 levels."""
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
    return (grey // 16).tobytes()


class CropSampler:
    """Holds the content images and draws batches of random crops.

    The batch for a step depends only on (seed, step), so a resumed run sees exactly the
    batches an uninterrupted one would have.
    """

    def __init__(self, images: list[np.ndarray], *, crop: int, seed: int):
        if min(min(img.shape[:2]) for img in images) < crop:
            raise InputError(f"content images smaller than the {crop} px crop")
        self.images = images
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

