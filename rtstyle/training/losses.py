"""Perceptual-loss helpers (Johnson et al. 2016; Gatys et al. 2016)."""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W activations → N×C×C Gram matrices, normalised by C·H·W."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (smoothness prior)."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy


def style_distance(features: tuple[torch.Tensor, ...], style_grams: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared Gram difference, averaged over the batch."""
    total = features[0].new_zeros(())
    for f, g in zip(features, style_grams, strict=True):
        total = total + ((gram_matrix(f) - g) ** 2).mean()
    return total


def feature_distance(features: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Sum over layers of the squared activation error relative to the target's energy.

    Distillation in VGG feature space: the student must put the teacher's strokes where the
    teacher puts them, which a pixel error (blurry average) or a Gram error (any arrangement,
    so periodic hatching passes) does not ask for. The relative scale weighs every layer alike.
    """
    total = features[0].new_zeros(())
    for f, t in zip(features, targets, strict=True):
        total = total + ((f - t) ** 2).mean() / (t**2).mean().clamp_min(1e-8)
    return total


def content_distance(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of activations."""
    return ((features - target) ** 2).mean()


def small_motion(n: int, generator: torch.Generator, *, shift: float, degrees: float, zoom: float,
                 size: tuple[int, int]) -> torch.Tensor:
    """N random camera motions between two frames, as ``affine_grid`` matrices (N×2×3): a shift of up
    to ``shift`` pixels, a turn of up to ``degrees`` and a zoom of up to ``zoom`` (a fraction)."""
    h, w = size
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * degrees * torch.pi / 180
    scale = 1 + u[:, 1] * zoom
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin * h / w, sin * w / h, cos
    theta[:, 0, 2], theta[:, 1, 2] = u[:, 2] * shift * 2 / w, u[:, 3] * shift * 2 / h  # grid units: 2 per side
    return theta


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``images`` (N×C×H×W) moved by ``theta`` (bilinear; zeros where the motion uncovers the border)."""
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def temporal_distance(moved_output: torch.Tensor, output: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """How far the output of a moved frame is from the output moved the same way (pixels 0–1, mean
    square over the pixels the motion keeps): zero for a network whose output follows its input.

    The stability term of Gupta et al. 2017 and ReCoNet (Gao et al. 2018), with the second frame made
    by moving the first instead of by optical flow between real frames.
    """
    inside = warp(torch.ones_like(output[:, :1]), theta) > 0.999
    diff = (moved_output - warp(output, theta)) / 255.0
    return (diff**2 * inside).sum() / (inside.sum() * output.shape[1]).clamp_min(1)


def painting_distance(painting: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """How far two paintings of the same pixels are (pixels 0–1, mean square). Three terms compare a
    crop's painting with another painting of the same pixels that a good network would paint alike,
    both sides learning (with one side held fixed the two chase each other and the term grows):

    - border: the painting of the crop with a mirrored margin around it, cropped back (zero for a
      network that paints no band where the picture ends; the fast networks' zero padding tells them);
    - shift: the painting of the crop moved by whole pixels, against the painting moved the same way,
      away from the edges (:func:`moved_whole`; zero for a network whose strokes follow the picture, not
      where it falls on the quarter-size grid; unlike :func:`temporal_distance` nothing is interpolated,
      so a grid-tied painting cannot hide behind a sub-pixel move's blur);
    - noise: the painting of the crop with faint grain added (zero for a network that does not
      amplify faint detail; instance norm scales the grain of a calm sky up and the network fills it
      with its own regular pattern, docs/training.md).
    """
    return (((painting - other) / 255.0) ** 2).mean()


def moved_whole(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``images`` (N×C×H×W) seen through a window moved ``dy`` rows down and ``dx`` columns right, by
    whole pixels (no interpolation): N×C×(H−4)×(W−4), so that the picture keeps a multiple of 4."""
    h, w = images.shape[2] - 4, images.shape[3] - 4
    return images[:, :, dy:dy + h, dx:dx + w]


def mirrored(images: torch.Tensor, margin: int) -> torch.Tensor:
    """``images`` (N×C×H×W) with ``margin`` mirrored pixels on every side, like the engine's ``edge_pad``
    (which repeats the edge pixel too; torch's ``reflect`` does not)."""
    return torch.nn.functional.pad(images, (margin, margin, margin, margin), mode="reflect")


def spectrum_bins(images: torch.Tensor, *, radial: int = 10, angular: int = 4) -> torch.Tensor:
    """How the luminance's energy spreads over frequency: N×3×H×W RGB (0–255) → N×(radial·angular)
    shares summing to 1, in log-spaced rings from 1/64 to 1/2 cycle per pixel, each cut into
    ``angular`` orientation sectors (the first centred on horizontal frequencies).

    A regular pattern (the diagonal hatch: a checkerboard of the quarter-size features, 45° lines
    8 pixels apart) is a peak in one ring and two sectors; brush strokes spread their energy.
    """
    n, _, h, w = images.shape
    grey = (images * images.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1) / 255.0
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    window = torch.hann_window(h, periodic=False, dtype=images.dtype)[:, None] * torch.hann_window(
        w, periodic=False, dtype=images.dtype)[None, :]
    power = torch.fft.rfft2(grey * window).abs() ** 2  # N×H×(W/2+1)
    fy = torch.fft.fftfreq(h, dtype=images.dtype)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=images.dtype)[None, :]
    radius = torch.sqrt(fx**2 + fy**2)
    ring = torch.floor((torch.log2(radius.clamp_min(1e-6)) + 6) / 5 * radial).long()  # log2(1/64) = -6
    sector = torch.remainder(torch.round(torch.atan2(fy, fx) / torch.pi * angular), angular).long()
    inside = (ring >= 0) & (ring < radial)
    index = (ring.clamp(0, radial - 1) * angular + sector).expand(h, fx.shape[1])[inside]
    bins = power.new_zeros(n, radial * angular).index_add_(1, index, power[:, inside])
    return bins / bins.sum(1, keepdim=True).clamp_min(1e-12)


def spectrum_distance(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of log energy shares (:func:`spectrum_bins`) from ``target``'s
    (the painting's, one row): a spectrum constraint in the spirit of Liu, Gousseau and Xia
    (2016), which the Gram loss lacks: a periodic fill can match Gram matrices, not a spectrum."""
    return ((torch.log(spectrum_bins(images) + 1e-6) - torch.log(target + 1e-6)) ** 2).mean()
