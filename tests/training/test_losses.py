"""The stability term of training: zero for a network whose output follows its input, not otherwise."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rtstyle.training.losses import small_motion, temporal_distance, warp  # noqa: E402


def _moves(n: int = 4, seed: int = 0) -> torch.Tensor:
    return small_motion(n, torch.Generator().manual_seed(seed), shift=2.0, degrees=1.0, zoom=0.02, size=(64, 96))


def test_an_output_that_follows_its_input_is_perfectly_stable() -> None:
    photos = torch.rand(4, 3, 64, 96) * 255
    theta = _moves()
    assert temporal_distance(warp(photos, theta), photos, theta).item() < 1e-10


def test_a_pattern_fixed_to_the_screen_is_unstable_and_costs_more_the_stronger_it_is() -> None:
    photos = torch.rand(4, 3, 64, 96) * 255
    theta = _moves()
    stripes = (torch.arange(96) % 4 < 2).float() * 40  # texture that stays put while the scene moves

    def distance(gain: float) -> float:
        return temporal_distance(warp(photos, theta) + gain * stripes, photos + gain * stripes, theta).item()

    assert 0 < distance(0.5) < distance(1.0)


def test_motions_are_small_and_repeat_with_their_seed() -> None:
    theta = _moves(64)
    assert torch.equal(theta, _moves(64)) and not torch.equal(theta, _moves(64, seed=1))
    assert (theta[:, 0, 2].abs() * 96 / 2).max() <= 2.0 + 1e-6  # pixels of shift, at most 2
    assert (theta[:, 0, 0] - 1).abs().max() < 0.03  # turn and zoom of a percent or two
