"""A small JPEG of each painting beside its networks, for the studio's gallery.

``python -m export.thumbnail`` writes ``models/<style>.jpg`` for every installed style whose
training configuration names its painting (and that file is readable here); the studio shows
it on the painting's card, for the full and the fast network alike.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from rtstyle.errors import InputError
from rtstyle.models import installed_styles

LONG_SIDE = 320


def write_thumbnail(painting: str | Path, target: str | Path, *, long_side: int = LONG_SIDE) -> Path:
    """``painting`` (any image OpenCV reads) scaled to ``long_side`` and saved as JPEG at ``target``."""
    image = cv2.imread(str(painting), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"not an image OpenCV can read: {painting}")
    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    target = Path(target)
    if not cv2.imwrite(str(target), small, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_OPTIMIZE, 1]):
        raise InputError(f"cannot write {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.thumbnail", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="where training paths are relative to")
    args = parser.parse_args(argv)
    for style in installed_styles():
        if style.variant != "full":
            continue
        painting = args.root / json.loads(style.metadata.get("training") or "{}").get("style", "")
        if painting.is_file():
            print(write_thumbnail(painting, style.path.with_name(f"{style.base}.jpg")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
