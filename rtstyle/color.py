"""Finishing touches on a stylized picture: how much of the style, and whose colours."""

from __future__ import annotations

import cv2
import numpy as np


def keep_colors(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """``stylized``'s luminance with ``original``'s colour (YCrCb chroma).

    uint8 BGR, H×W×3 or N×H×W×3 (both the same shape) → uint8 BGR of that shape: the painting's
    strokes and shading on the photo's own colours (Gatys et al. 2016, "Preserving Color in
    Neural Artistic Style Transfer", luminance-only transfer).
    """
    shape = original.shape
    flat = (-1, shape[-2], 3)  # cvtColor works per pixel: a batch is one tall picture to it
    colour = cv2.cvtColor(original.reshape(flat), cv2.COLOR_BGR2YCrCb)
    colour[..., 0] = cv2.cvtColor(stylized.reshape(flat), cv2.COLOR_BGR2YCrCb)[..., 0]
    return cv2.cvtColor(colour, cv2.COLOR_YCrCb2BGR).reshape(shape)


def blend(original: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` 1: all style, 0: the original; uint8 BGR of the same shape in and out."""
    if strength >= 1:
        return stylized
    if strength <= 0:
        return original
    flat = (-1, original.shape[-2], 3)
    return cv2.addWeighted(stylized.reshape(flat), strength, original.reshape(flat), 1 - strength, 0
                           ).reshape(original.shape)


def finish(original: np.ndarray, stylized: np.ndarray, *, strength: float = 1.0,
           preserve_colors: bool = False) -> np.ndarray:
    """Colours first, then strength: the order the studio, the CLI and the live window share."""
    out = keep_colors(original, stylized) if preserve_colors else stylized
    return blend(original, out, strength)
