"""Stroke size: one look at every frame size.

A style network paints strokes of a fixed size *in pixels*, so the same photo painted at 640 px
and at 4K gives bold strokes in one and a fine texture in the other. Here the network always
paints at a *working size* set by the stroke size, not by the frame: at stroke size 1 a frame is
painted at the area of 640×360 whatever its own size, so strokes keep their size relative to the
picture. The painting is then brought back to the frame's size with the frame's own fine
detail, the band of the frame that the working size could not hold (a Laplacian band), so edges
stay sharp:

    full = up(painted) + (frame − up(work))

``up`` is linear, so this is computed as ``up(painted − work) + frame``: one resize of a small
picture and one add at full size. Shown at the working size, the detail band all but
vanishes and the result is close to the working-size painting itself (the enlargement softens
only the finest strokes).

Larger stroke size = a smaller working size = bigger strokes (and faster). Each model's metadata
may carry its own default (``stroke_size``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from rtstyle.errors import InputError

REFERENCE_SIDE = 480  # √(640·360): at stroke size 1 a frame is painted at 640×360's area
STROKE_RANGE = (0.25, 4.0)  # working area from 1920² down to 120², so memory stays bounded
STROKE_HELP = (f"brush strokes relative to the picture, the same at every size: 1 paints at 640x360's area, "
               f"2 twice as large, 0.5 finer ({STROKE_RANGE[0]:g}-{STROKE_RANGE[1]:g}; default: the style's own)")
MIN_SIDE = 16
Refine = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (work, painted) → painted, at the working size


def check_stroke(stroke: float) -> float:
    low, high = STROKE_RANGE
    if not low <= stroke <= high:
        raise InputError(f"stroke size must be between {low:g} and {high:g}, not {stroke:g}")
    return float(stroke)


def working_size(height: int, width: int, stroke: float) -> tuple[int, int]:
    """(height, width) the network paints a ``height``×``width`` frame at for ``stroke``.

    The area is (REFERENCE_SIDE / stroke)², the aspect ratio the frame's; a frame already at
    that size (within 1 %) is painted as it is.
    """
    factor = REFERENCE_SIDE / check_stroke(stroke) / math.sqrt(height * width)
    if abs(factor - 1) < 0.01:
        return height, width
    return max(MIN_SIDE, round(height * factor)), max(MIN_SIDE, round(width * factor))


def shrink(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """N×H×W×3 uint8 frames resized to ``size`` (height, width): area-averaged down, cubic up."""
    h, w = size
    interp = cv2.INTER_AREA if h * w < frames.shape[1] * frames.shape[2] else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def enlarge(painted: np.ndarray, work: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The working-size ``painted`` frames at the size of ``frames``, with the frames' fine detail.

    ``work`` is what the network was given (``frames`` shrunk); all uint8 BGR, N×h×w×3 and
    N×H×W×3. Frames smaller than the working size have no detail to add: the painting is only
    shrunk back to them.
    """
    n, height, width = frames.shape[:3]
    if painted.shape[1] * painted.shape[2] >= height * width:
        return np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in painted])
    out = np.empty_like(frames)
    for i in range(n):  # up(painted - work) + frame, in 16-bit so that nothing wraps before the last add
        residual = cv2.subtract(painted[i], work[i], dtype=cv2.CV_16S)
        up = cv2.resize(residual, (width, height), interpolation=cv2.INTER_LINEAR)
        cv2.add(up, frames[i], dst=out[i], dtype=cv2.CV_8U)
    return out
