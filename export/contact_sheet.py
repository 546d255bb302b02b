"""A contact sheet of the shipped styles: held-out photos down, styles across.

``python -m export.contact_sheet [--models models] [--out docs/contact_sheet.png] [--photos 5]``
The first row holds each style's painting (a centre square, labelled with its title); each
further row is one held-out photo (never trained on), first as it is, then in every style.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

import cv2
import numpy as np

from rtstyle.engine import Engine, EngineConfig
from rtstyle.errors import InputError, RtstyleError
from rtstyle.images import write_image
from rtstyle.models import StyleInfo
from rtstyle.training.data import list_images, split_holdout

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONTENT = REPO.parent / "shared" / "data" / "content"
MAX_WIDTH = 1600
MAX_CELL = 256
GAP = 4  # white pixels between cells
LABEL_HEIGHT = 34


def cell_size(columns: int, width: int = MAX_WIDTH) -> int:
    """Side of one square cell: a multiple of 4 (the networks' stride) that fits ``width``."""
    return min(MAX_CELL, ((width + GAP) // columns - GAP) // 4 * 4)


def contact_sheet(photos: list[np.ndarray], styles: list[StyleInfo], *, width: int = MAX_WIDTH) -> np.ndarray:
    """uint8 BGR grid: a header row of paintings, then one row per photo (uint8 BGR, any size).

    Every cell is a ``cell_size(len(styles) + 1, width)`` square, with ``GAP`` white pixels between.
    """
    cell = cell_size(len(styles) + 1, width)
    if cell < 16:
        raise InputError(f"{len(styles)} styles do not fit in {width} px")
    engine = Engine(styles, EngineConfig(device="cpu"))
    header = [_labelled(np.full((cell, cell, 3), 60, np.uint8), "original", "")]
    header += [_labelled(_painting(style, cell), *_title(style)) for style in styles]
    rows = [header]
    for photo in photos:
        square = cv2.resize(_centre_square(photo), (cell, cell), interpolation=cv2.INTER_AREA)
        rows.append([square, *(engine.stylize(square, style.name) for style in styles)])
    return _grid(rows)


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    def join(cells: list[np.ndarray], axis: int) -> np.ndarray:
        gap_shape = list(cells[0].shape)
        gap_shape[axis] = GAP
        gap = np.full(gap_shape, 255, np.uint8)
        return np.concatenate([part for c in cells for part in (gap, c)][1:], axis=axis)

    return join([join(row, axis=1) for row in rows], axis=0)


def _centre_square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return image[y : y + side, x : x + side]


def _painting(style: StyleInfo, cell: int) -> np.ndarray:
    """The painting the style was trained on (centre square), or grey when it is not here."""
    path = painting_path(style)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path else None
    if image is None:
        return np.full((cell, cell, 3), 110, np.uint8)
    return cv2.resize(_centre_square(image), (cell, cell), interpolation=cv2.INTER_AREA)


def painting_path(style: StyleInfo) -> Path | None:
    """The ``style`` file named in the model's training metadata, if it exists here."""
    named = json.loads(style.metadata.get("training") or "{}").get("style")
    for candidate in (Path(named), REPO / named) if named else ():
        if candidate.is_file():
            return candidate
    return None


def _title(style: StyleInfo) -> tuple[str, str]:
    m = style.metadata
    byline = ", ".join(v for v in (m.get("artist", ""), m.get("year", "")) if v)
    return m.get("painting") or style.name, byline


def _labelled(image: np.ndarray, title: str, byline: str) -> np.ndarray:
    """``image`` with a dark strip at the bottom holding one or two lines of text."""
    out = image.copy()
    h, w = out.shape[:2]
    strip = out[h - LABEL_HEIGHT :]
    strip[:] = (strip * 0.35).astype(np.uint8)
    for text, baseline, scale in ((title, 14, 0.42), (byline, 29, 0.36)):
        _put_fitted(out, _ascii(text), (5, h - LABEL_HEIGHT + baseline), scale, w - 10)
    return out


def _put_fitted(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, room: int) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    while scale > 0.25 and cv2.getTextSize(text, font, scale, 1)[0][0] > room:
        scale -= 0.02
    while text and cv2.getTextSize(text, font, scale, 1)[0][0] > room:
        text = text[:-2] + "."
    cv2.putText(image, text, origin, font, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts draw only ASCII; "Kandinsky — Composition" would show "?".
    return unicodedata.normalize("NFKD", text.replace("—", "-")).encode("ascii", "ignore").decode()


def held_out_photos(folder: Path, count: int, every: int = 50) -> list[np.ndarray]:
    """The first ``count`` held-out photos of a training folder (rtstyle/training/data.py's split), BGR."""
    _, held = split_holdout(list_images(folder), every)
    photos = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in held[:count]]
    return [p for p in photos if p is not None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.contact_sheet", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="models", help="folder of .onnx styles (default %(default)s)")
    p.add_argument("--out", default="docs/contact_sheet.png", help="the PNG to write (default %(default)s)")
    p.add_argument("--photos", type=int, default=5, help="rows of held-out photos (default %(default)s)")
    p.add_argument("--content-dir", default=str(DEFAULT_CONTENT), help="the training photos (default ../shared's)")
    p.add_argument("--holdout-every", type=int, default=50, help="as in training (default %(default)s)")
    p.add_argument("--variant", choices=("full", "fast", "all"), default="full",
                   help="which networks get a column (default %(default)s)")
    p.add_argument("--width", type=int, default=MAX_WIDTH, help="at most this wide (default %(default)s)")
    args = p.parse_args(argv)
    try:
        out = write_sheet(args)
    except RtstyleError as exc:
        print(f"rtstyle: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(out)
    return 0


def write_sheet(args: argparse.Namespace) -> Path:
    styles = [StyleInfo.from_file(f) for f in sorted(Path(args.models).glob("*.onnx"))]
    styles = [s for s in styles if args.variant == "all" or s.variant == args.variant]
    if not styles:
        raise InputError(f"no {args.variant if args.variant != 'all' else ''} .onnx models in {args.models}")
    photos = held_out_photos(Path(args.content_dir), args.photos, args.holdout_every)
    if not photos:
        raise InputError(f"no readable photos in {args.content_dir}")
    sheet = contact_sheet(photos, styles, width=args.width)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_image(out, sheet)


if __name__ == "__main__":
    raise SystemExit(main())
