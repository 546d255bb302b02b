"""Temporal stability: optical-flow-guided blending, and the warping error that measures it.

Stylizing each frame on its own makes video shimmer: a tiny change in the input moves the brush
strokes. :class:`Stabilizer` warps the previous *output* along the optical flow of the *input*
frames (DIS, OpenCV) and blends it into the current output wherever the flow is trustworthy: a
forward–backward consistency check masks occlusions and fast motion, so nothing is dragged
along where the flow is wrong (no ghost trails). :func:`warping_error` is the metric of
Lai et al. (2018): mean squared difference between an output frame and the previous output
warped to it, over non-occluded pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from rtstyle.errors import InputError

FLOW_WIDTH = 320  # flow is estimated at this width: much cheaper, and smooth enough to warp with


@dataclass(frozen=True, kw_only=True)
class StabilizerConfig:
    """``strength``: weight of the warped previous output where the flow is consistent."""

    strength: float = 0.6
    consistency_px: float = 1.0  # forward–backward disagreement (pixels) above which a pixel is occluded
    feather_px: int = 3  # soften mask edges so blended and fresh regions meet without a seam

    def __post_init__(self) -> None:
        if not 0 <= self.strength < 1:
            raise InputError(f"stabilize strength must be in [0, 1), not {self.strength}")


class FlowEstimator:
    """Backward flow (t → t-1) and an occlusion mask between consecutive BGR frames."""

    def __init__(self, width: int = FLOW_WIDTH):
        self.width = width
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def __call__(self, previous: np.ndarray, current: np.ndarray, threshold_px: float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(flow, valid)``: flow H×W×2 float32 mapping current pixels into ``previous``,
        valid H×W float32 in [0, 1] where the forward–backward check passes."""
        h, w = current.shape[:2]
        scale = min(1.0, self.width / w)
        small = (max(8, round(w * scale)), max(8, round(h * scale)))
        a, b = (cv2.cvtColor(cv2.resize(f, small, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
                for f in (previous, current))
        back = self._dis.calc(b, a, None)  # current → previous
        fwd = self._dis.calc(a, b, None)  # previous → current
        # A consistent pixel goes to previous and back to where it started.
        loop = back + _remap(fwd, back)
        error = cv2.magnitude(loop[..., 0], loop[..., 1])
        valid = (error < threshold_px * scale).astype(np.float32)
        flow = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR)
        flow *= np.float32(1 / scale)  # in place: a full-frame float32 map
        return flow, cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """Pixel coordinates H×W×2 float32 (x, y), made once per frame size rather than once per frame."""
    y, x = np.indices((h, w), dtype=np.float32)
    return np.dstack([x, y])


def _remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at (x, y) + flow(x, y) for every pixel (bilinear, edges replicated)."""
    where = cv2.add(_grid(flow.shape[0], flow.shape[1]), flow)  # one float32 H×W×2 map: remap's fast path
    return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Stabilizer:
    """Feed frames in order: ``process(input_bgr, stylized_bgr) -> steadier stylized_bgr``."""

    def __init__(self, config: StabilizerConfig | None = None):
        self.config = config or StabilizerConfig()
        self._flow = FlowEstimator()
        self._previous_input: np.ndarray | None = None
        self._previous_output: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the past (a cut, a style switch)."""
        self._previous_input = self._previous_output = None

    def process(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        c = self.config
        if self._previous_input is None or self._previous_input.shape != frame.shape:
            out = stylized
        else:
            flow, valid = self._flow(self._previous_input, frame, c.consistency_px)
            if c.feather_px:
                valid = cv2.erode(valid, np.ones((c.feather_px, c.feather_px), np.uint8))
                valid = cv2.blur(valid, (2 * c.feather_px + 1, 2 * c.feather_px + 1))
            warped = _remap(self._previous_output, flow)  # type: ignore[arg-type]
            weight = valid * np.float32(c.strength)  # float32 H×W, one value per pixel (not per channel)
            # weight·warped + (1 − weight)·stylized, rounded, in one float32 pass without H×W×3 temporaries
            out = cv2.blendLinear(warped, np.ascontiguousarray(stylized), weight, np.float32(1) - weight)
        self._previous_input, self._previous_output = frame, out
        return out


def farneback_flow(previous: np.ndarray, current: np.ndarray, threshold_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution Farnebäck flow (t → t-1) and forward–backward mask, for measuring.

    The metric deliberately uses another flow method than :class:`Stabilizer` (DIS at low
    resolution), so the stabilizer is not graded by its own flow.
    """
    a, b = (cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in (previous, current))
    params = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    back = cv2.calcOpticalFlowFarneback(b, a, None, **params)
    fwd = cv2.calcOpticalFlowFarneback(a, b, None, **params)
    error = np.linalg.norm(back + _remap(fwd, back), axis=2)
    return back, (error < threshold_px).astype(np.float32)


def warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray], *, threshold_px: float = 1.0) -> float:
    """Mean over consecutive pairs of the masked squared difference (values 0–1) between
    ``outputs[t]`` and ``outputs[t-1]`` warped by the flow of ``inputs``."""
    errors = []
    for t in range(1, len(inputs)):
        flow, valid = farneback_flow(inputs[t - 1], inputs[t], threshold_px)
        mask = valid > 0.5
        warped = _remap(outputs[t - 1], flow).astype(np.float32) / 255
        diff = ((outputs[t].astype(np.float32) / 255 - warped) ** 2).mean(axis=2)
        errors.append(float(diff[mask].mean()) if mask.any() else 0.0)
    return float(np.mean(errors)) if errors else 0.0
