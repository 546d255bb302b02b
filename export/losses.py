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
