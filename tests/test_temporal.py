"""Temporal stability: the stabilizer lowers the warping error and does not drag ghosts."""

from __future__ import annotations

import numpy as np
import pytest

from rtstyle.errors import InputError
from rtstyle.synthetic import scene
from rtstyle.temporal import Stabilizer, StabilizerConfig, warping_error


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
