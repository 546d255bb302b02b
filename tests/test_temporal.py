"""Temporal stability: the stabilizer lowers the warping error and does not drag ghosts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtstyle.errors import InputError
from rtstyle.synthetic import scene
from rtstyle.temporal import FLOW_WIDTH, Stabilizer, StabilizerConfig, warping_error


def _flickering_stylizer(seed: int = 0):
    """A stand-in network whose output jitters from frame to frame, as real ones do."""
    rng = np.random.default_rng(seed)

    def stylize(frame: np.ndarray) -> np.ndarray:
        noise = rng.normal(0, 12, frame.shape)
        return np.clip(255 - frame.astype(float) + noise, 0, 255).astype(np.uint8)
    return stylize


def test_stabilizer_halves_the_warping_error_on_a_moving_scene() -> None:
    frames = [scene(i * 3, 160, 96) for i in range(12)]
    stylize = _flickering_stylizer()
    plain = [stylize(f) for f in frames]
    stabilizer = Stabilizer()
    steady = [stabilizer.process(f, p) for f, p in zip(frames, plain, strict=True)]
    assert warping_error(frames, steady) <= 0.5 * warping_error(frames, plain)


def _numpy_remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    y, x = np.indices(flow.shape[:2], dtype=np.float32)
    return cv2.remap(image, x + flow[..., 0], y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _numpy_flow(previous: np.ndarray, current: np.ndarray, threshold_px: float) -> tuple[np.ndarray, np.ndarray]:
    """FlowEstimator as first written."""
    h, w = current.shape[:2]
    scale = min(1.0, FLOW_WIDTH / w)
    small = (max(8, round(w * scale)), max(8, round(h * scale)))
    a, b = (cv2.cvtColor(cv2.resize(f, small, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            for f in (previous, current))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    back, fwd = dis.calc(b, a, None), dis.calc(a, b, None)
    valid = (np.linalg.norm(back + _numpy_remap(fwd, back), axis=2) < threshold_px * scale).astype(np.float32)
    flow = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) / scale
    return flow, cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR)


def _numpy_stabilizer(frames: list[np.ndarray], painted: list[np.ndarray], c: StabilizerConfig) -> list[np.ndarray]:
    """The stabilizer as first written, in NumPy arithmetic: what the OpenCV version must still give."""
    outs = [painted[0]]
    for before, frame, paint in zip(frames, frames[1:], painted[1:], strict=False):
        flow, valid = _numpy_flow(before, frame, c.consistency_px)
        valid = cv2.blur(cv2.erode(valid, np.ones((c.feather_px,) * 2, np.uint8)), (2 * c.feather_px + 1,) * 2)
        warped = _numpy_remap(outs[-1], flow).astype(np.float64)
        weight = (c.strength * valid.astype(np.float64))[..., None]
        outs.append((weight * warped + (1 - weight) * paint).round().astype(np.uint8))
    return outs


@pytest.mark.parametrize("strength", [0.3, 0.6, 0.9])
def test_opencv_stabilizer_paints_what_the_numpy_one_did(strength: float) -> None:
    frames = [scene(i * 4, 400, 224) for i in range(6)]  # wider than FLOW_WIDTH: the flow is scaled back up
    painted = [_flickering_stylizer(1)(f) for f in frames]
    config = StabilizerConfig(strength=strength)
    stabilizer = Stabilizer(config)
    got = [stabilizer.process(f, p) for f, p in zip(frames, painted, strict=True)]
    for mine, theirs in zip(got, _numpy_stabilizer(frames, painted, config), strict=True):
        assert mine.dtype == np.uint8 and mine.shape == theirs.shape
        diff = np.abs(mine.astype(int) - theirs)
        # float32 against float64 rounding: one level at most (a frame passes its rounding on to the next)
        assert diff.max() <= 1 and diff.mean() < 0.2


def test_a_scene_cut_shows_the_new_frame_without_ghosts() -> None:
    stabilizer = Stabilizer()
    first = scene(0, 160, 96)
    stabilizer.process(first, np.full_like(first, 255))
    cut = np.roll(scene(40, 160, 96)[::-1], 50, axis=1)  # nothing in common with the last frame
    fresh = np.zeros_like(cut)
    out = stabilizer.process(cut, fresh)
    assert (out.astype(int) > 64).mean() < 0.05  # at most a few pixels carry the old white frame


def test_still_frames_converge_and_size_changes_reset() -> None:
    stabilizer = Stabilizer()
    frame = scene(5, 64, 48)
    outs = [stabilizer.process(frame, _flickering_stylizer(i)(frame)) for i in range(6)]
    assert np.abs(outs[-1].astype(int) - outs[-2]).mean() < np.abs(outs[1].astype(int) - outs[0]).mean()
    other = scene(5, 32, 32)
    np.testing.assert_array_equal(stabilizer.process(other, other), other)


@pytest.mark.parametrize("strength", [-0.1, 1.0, 2.0])
def test_strength_out_of_range(strength: float) -> None:
    with pytest.raises(InputError, match="stabilize strength"):
        StabilizerConfig(strength=strength)
