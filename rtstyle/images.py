"""Still images written to disk: atomically, so a failed or interrupted write leaves no file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import InputError, OutputError

THUMBNAIL_SIDE = 320


def write_image(path: str | Path, bgr: np.ndarray, params: list[int] | None = None) -> Path:
    """Encode uint8 BGR H×W×3 by ``path``'s suffix (PNG without one) and write it under a temporary
    name beside ``path``, renamed at the end. An :class:`OutputError` for a format OpenCV cannot encode."""
    path = Path(path)
    try:
        ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(bgr), params or [])
    except cv2.error:  # OpenCV 5 raises for a suffix it has no encoder for; 4 returned False
        ok = False
    if not ok:
        raise OutputError(f"cannot encode {path.suffix!r} images: {path}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_thumbnail(painting: str | Path, target: str | Path, *, long_side: int = THUMBNAIL_SIDE) -> Path:
    """``painting`` (any image OpenCV reads) scaled to ``long_side`` at most and saved as a JPEG at
    ``target`` (:func:`rtstyle.models.thumbnail_path` says where a painting's goes)."""
    image = cv2.imread(str(painting), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"not an image OpenCV can read: {painting}")
    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return write_image(target, small, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
