"""Training's loss terms: the stability term (zero for a network whose output follows its input, not
otherwise) and the spectrum term (a regular pattern is a peak the painting does not have)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rtstyle.training.losses import (  # noqa: E402
    mirrored,
    moved_whole,
    painting_distance,
    small_motion,
    spectrum_bins,
    spectrum_distance,
    temporal_distance,
    warp,
)


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


def _hatch(size: int = 128) -> torch.Tensor:
    """The diagonal hatch as the networks make it: a checkerboard of 4-pixel cells (quarter-size
    features, one cell to the next), softened as upsampling softens it."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    board = (((y // 4 + x // 4) % 2).float() * 2 - 1)[None, None]
    board = torch.nn.functional.avg_pool2d(board, 3, stride=1, padding=1, count_include_pad=False)
    return (128 + 60 * board).expand(1, 3, size, size)


def test_a_diagonal_hatch_puts_its_energy_in_the_diagonal_sectors() -> None:
    shares = spectrum_bins(_hatch()).reshape(10, 4).sum(0)  # sectors: 0°, 45°, 90°, 135°
    assert shares[1] + shares[3] > 0.8
    _, x = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    columns = (128 + 60 * torch.sin(x / 3.0))[None, None].expand(1, 3, 128, 128)  # varies along x
    assert spectrum_bins(columns).reshape(10, 4).sum(0)[0] > 0.8
    assert torch.allclose(spectrum_bins(_hatch()).sum(1), torch.ones(1))


def test_the_spectrum_term_tells_a_hatch_from_brush_strokes() -> None:
    generator = torch.Generator().manual_seed(0)

    def blotches() -> torch.Tensor:  # strokes of no one direction
        noise = torch.randn(1, 1, 128, 128, generator=generator)
        return (torch.nn.functional.avg_pool2d(noise, 5, stride=1, padding=2) * 300 + 128).expand(1, 3, 128, 128)

    painting = spectrum_bins(blotches())
    assert spectrum_distance(blotches(), painting) < 0.5 * spectrum_distance(_hatch(), painting)


def test_only_a_network_that_sees_where_the_picture_ends_pays_the_border_term() -> None:
    """A network looking at one pixel at a time paints a picture as it paints it with a mirrored
    margin; one whose zero padding shows it the picture's edge (as the fast networks') paints a band."""
    torch.manual_seed(0)
    photos = torch.rand(2, 3, 64, 64) * 255
    pointwise = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))
    padded = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 5, padding=2), torch.nn.Conv2d(3, 3, 5, padding=2))
    m = 16
    with torch.no_grad():
        for net in (pointwise, padded):
            net[0].bias.fill_(40.0)  # a picture's edge, against the zeros beyond it
        scores = [painting_distance(net(photos), net(mirrored(photos, m))[:, :, m:-m, m:-m]).item()
                  for net in (pointwise, padded)]
    assert scores[0] < 1e-10 and scores[1] > 1e-3


def test_only_a_network_tied_to_its_grid_pays_the_shift_term() -> None:
    """A network that keeps the picture's grid paints a moved picture as its painting moved; one that
    works on a coarser grid (stride 4 and back, as the fast networks' quarter-size features) does not,
    unless the move is a whole cell of that grid."""
    torch.manual_seed(0)
    photos = torch.rand(2, 3, 64, 64) * 255
    follows = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 5, padding=2))
    gridded = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 4, stride=4), torch.nn.Upsample(scale_factor=4))

    def score(net: torch.nn.Module, dy: int, dx: int) -> float:
        with torch.no_grad():
            inside = (slice(None), slice(None), slice(16, -16), slice(16, -16))
            return painting_distance(net(moved_whole(photos, dy, dx))[inside],
                                     moved_whole(net(photos), dy, dx)[inside]).item()

    assert score(follows, 1, 2) < 1e-10
    assert score(gridded, 1, 2) > 1e-3 and score(gridded, 0, 4) < 1e-10


def test_a_network_that_blows_faint_grain_up_pays_the_noise_term() -> None:
    """A calm picture with a little grain: a network that paints what it is given pays about the
    grain itself; one that normalises each picture's spread (instance norm, as the networks' first
    layers) turns the grain into full-strength texture and pays hundreds of times more."""
    generator = torch.Generator().manual_seed(0)
    calm = torch.full((2, 3, 64, 64), 120.0) + torch.randn(2, 3, 64, 64, generator=generator) * 0.5
    grain = torch.randn(calm.shape, generator=generator) * 3.0

    def amplifier(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.instance_norm(x) * 50 + 128

    def faithful(x: torch.Tensor) -> torch.Tensor:
        return x

    scores = [painting_distance(net(calm + grain), net(calm)).item() for net in (faithful, amplifier)]
    assert scores[0] < 2e-4 and scores[1] > 100 * scores[0]
