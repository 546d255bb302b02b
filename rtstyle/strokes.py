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

import cv2
import numpy as np

from rtstyle.colorspace import bgr_from_yuv, yuv_from_bgr
from rtstyle.errors import InputError

REFERENCE_SIDE = 480  # √(640·360): at stroke size 1 a frame is painted at 640×360's area
STROKE_RANGE = (0.25, 4.0)  # working area from 1920² down to 120², so memory stays bounded
STROKE_HELP = (f"brush strokes relative to the picture, the same at every size: 1 paints at 640x360's area, "
               f"2 twice as large, 0.5 finer ({STROKE_RANGE[0]:g}-{STROKE_RANGE[1]:g}; default: the style's own)")
MIN_SIDE = 16


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
    return np.stack([resized(f, size) for f in frames])


def resized(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One picture (or plane) at ``size`` (height, width): area-averaged down, cubic up, as it is if already so."""
    h, w = size
    if picture.shape[:2] == (h, w):
        return picture
    interp = cv2.INTER_AREA if h * w < picture.shape[0] * picture.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(picture, (w, h), interpolation=interp)


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
    for i in range(n):  # up(painted - work) + frame, signed so that nothing wraps before the last add
        add_enlarged(cv2.subtract(painted[i], work[i], dtype=cv2.CV_32F), frames[i], out[i])
    return out


def add_enlarged(residual: np.ndarray, picture: np.ndarray, out: np.ndarray, rows: int = 128) -> None:
    """``out = picture + up(residual)``: the float ``residual`` enlarged (bilinear) to the uint8
    ``picture``'s size and added, saturated.

    Done in bands of about ``rows`` rows, so that the enlarged float residual (100 MB for a 4K
    frame) never exists whole: each band is added while it is still in the cache (a 4K frame:
    ~20 ms against ~30). The result is exactly that of one whole resize: each band is resized
    from whole cells of the two grids (``g`` = gcd of the heights) with one more cell of residual
    above and below, cut away after, so every kept row reads the rows it would read in one piece.
    """
    h, height, width = residual.shape[0], picture.shape[0], picture.shape[1]
    g = math.gcd(h, height)
    small, large = h // g, height // g  # one cell: `small` residual rows become `large` picture rows
    if small > 16:  # sizes with no small common cell: in one piece
        cv2.add(cv2.resize(residual, (width, height), interpolation=cv2.INTER_LINEAR), picture, dst=out,
                dtype=cv2.CV_8U)
        return
    step = max(1, rows // large) * large
    for y0 in range(0, height, step):
        y1 = min(height, y0 + step)
        r0, r1 = y0 // large * small, y1 // large * small
        above, below = (small if r0 > 0 else 0), (small if r1 < h else 0)
        up = cv2.resize(residual[r0 - above:r1 + below], (width, y1 - y0 + (above + below) // small * large),
                        interpolation=cv2.INTER_LINEAR)
        top = above // small * large
        cv2.add(up[top:top + y1 - y0], picture[y0:y1], dst=out[y0:y1], dtype=cv2.CV_8U)


# The same on video frames as encoders take them: yuv420p, I420 layout ((H·3/2)×W: the H×W luma plane,
# then the two H/2×W/2 chroma planes, PyAV's ``to_ndarray(format="yuv420p")``). A 1080p or 4K frame then
# never exists as BGR: only the working size is converted, and the painting's difference from the
# frame is added to each plane at its own resolution (a 1080p frame: 4-5 ms against ~30 for the
# conversions to BGR and back and the BGR enlargement, docs/benchmarks.md).

def i420_size(frames: np.ndarray) -> tuple[int, int]:
    """(height, width) of the pictures in an N×(H·3/2)×W I420 batch (or one (H·3/2)×W picture)."""
    return frames.shape[-2] * 2 // 3, frames.shape[-1]


def planes(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of one I420 picture's Y (H×W), U and V (H/2×W/2) planes."""
    h, w = i420_size(picture)
    y, u, v = np.split(picture.reshape(-1), [h * w, h * w * 5 // 4])
    return y.reshape(h, w), u.reshape(h // 2, w // 2), v.reshape(h // 2, w // 2)


def join_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One (H·3/2)×W I420 picture from its planes."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def shrink_i420(frames: np.ndarray, size: tuple[int, int], matrix: int) -> np.ndarray:
    """N×(H·3/2)×W I420 frames (limited range, colour ``matrix``) as N×h×w×3 uint8 BGR at ``size``."""
    to_bgr = bgr_from_yuv(matrix)
    return np.stack([cv2.transform(cv2.merge([resized(p, size) for p in planes(f)]), to_bgr) for f in frames])


def bgr_to_i420(frames: np.ndarray, matrix: int) -> np.ndarray:
    """N×H×W×3 uint8 BGR (even sides) as N×(H·3/2)×W I420, limited range, colour ``matrix``."""
    to_yuv = yuv_from_bgr(matrix)
    h, w = frames.shape[1:3]
    out = []
    for frame in frames:
        y, u, v = cv2.split(cv2.transform(frame, to_yuv))
        out.append(join_planes(y, *(cv2.resize(c, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for c in (u, v))))
    return np.stack(out)


def enlarge_i420(painted: np.ndarray, work: np.ndarray, frames: np.ndarray, matrix: int) -> np.ndarray:
    """:func:`enlarge` for I420 ``frames``: the painting's difference from ``work`` (both N×h×w×3 BGR)
    in Y, U and V, brought to each plane's size and added to it."""
    height, width = i420_size(frames)
    if painted.shape[1] * painted.shape[2] >= height * width:
        return bgr_to_i420(np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA)
                                     for p in painted]), matrix)
    to_yuv = yuv_from_bgr(matrix)[:, :3]  # of a difference: no offsets
    out = np.empty_like(frames)
    for i in range(len(frames)):
        residual = cv2.transform(cv2.subtract(painted[i], work[i], dtype=cv2.CV_32F), to_yuv)
        for plane, delta, target in zip(planes(frames[i]), cv2.split(residual), planes(out[i]), strict=True):
            add_enlarged(delta, plane, target)
    return out
