"""The torch side of rtstyle: networks, losses, VGG, training, optimisation and ONNX conversion.

Only the ``[train]`` extra needs it. The runtime (the CLI, the studio's jobs) reaches it through
this module alone: typed requests (frozen dataclasses) and functions that import torch when they
are called, never when this module is imported. The submodules import torch at once, and import
the runtime's core (errors, models, video, precision) but never the CLI or the studio.

``python -m export.zoo`` and the other maintainer tools of a clone build on the same submodules.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rtstyle.errors import RtstyleError

if TYPE_CHECKING:
    import numpy as np

# The steps of ``rtstyle train``'s full network, then its fast one. On the 2-core dev VM in a slow phase:
# 14.1 and 14.8 min for Renoir's Bal du moulin de la Galette and Cassatt's Summertime, quality 0.91x and
# 1.11x the shipped networks' (300 + 250 steps: 16.0 and 17.5 min, 0.90x and 1.07x; docs/training.md).
FULL_STEPS = 250
FAST_STEPS = 200
TRAIN_EXTRA_HINT = "pip install 'rtstyle[train]'"

Progress = Callable[[int, int], None]
"""``progress(done, total)`` after every step; it may raise to stop the work (a checkpoint is kept)."""


class TorchMissing(RtstyleError):
    """PyTorch is not installed: the torch side cannot run here."""


def torch_missing() -> str | None:
    """Why the torch side cannot run here, or None when it can (looks, imports nothing)."""
    if importlib.util.find_spec("torch") is None:
        return f"this needs PyTorch, which is not installed: {TRAIN_EXTRA_HINT}"
    return None


@dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """A painting made a live style: its full network, then its fast one, installed into ``export_dir``.

    ``content``: folders of photos and video files (at least 50 distinct images in all).
    ``run_dir``: checkpoints and samples (default: the user's data folder). ``vgg_weights``: a VGG16
    state dict; None looks in torch's hub cache, then fetches ``$RTSTYLE_VGG16_URL`` or torchvision's.
    """

    painting: Path
    content: tuple[Path, ...]
    name: str | None = None
    steps: int = FULL_STEPS
    fast_steps: int = FAST_STEPS
    run_dir: Path | None = None
    export_dir: Path | None = None
    vgg_weights: Path | None = None
    quiet: bool = True


@dataclass(frozen=True, kw_only=True)
class OptimizeRequest:
    """Gatys et al.'s optimisation of one photo in a painting's style (the VGG16 recipe of training).

    ``photo_rgb`` and ``painting_rgb``: uint8 RGB H×W×3, each already at the size to work at.
    """

    photo_rgb: np.ndarray = field(repr=False)
    painting_rgb: np.ndarray = field(repr=False)
    steps: int = 200
    vgg_weights: Path | None = None


def _module(name: str):  # type: ignore[no-untyped-def]
    """``rtstyle.training.<name>``, or :class:`TorchMissing` with the extra to install."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise TorchMissing(f"this needs PyTorch ({exc.name} is missing): {TRAIN_EXTRA_HINT}") from exc
        raise


def load_content(request: TrainRequest) -> list[np.ndarray]:
    """The content images ``request`` names, loaded and counted (an InputError when too few)."""
    return _module("schedule").content_of_request(request)


def train_style(request: TrainRequest, *, images: list[np.ndarray] | None = None,
                progress: Progress | None = None) -> list[Path]:
    """Train and install the networks of ``request``; returns their ``.onnx`` files (the full one first).

    ``images``: the content when :func:`load_content` has already loaded it.
    """
    return _module("schedule").train_request(request, images=images, on_step=progress)


def optimize_picture(request: OptimizeRequest, *, progress: Progress | None = None) -> np.ndarray:
    """The optimised picture: uint8 RGB of the photo's shape."""
    return _module("optimize").optimize_request(request, on_step=progress)


# The commands whose arguments the torch side parses itself: name → (module, help).
COMMANDS = {"train": ("schedule", "train a new style (needs PyTorch)"),
            "optimize": ("optimize", "Gatys et al. optimisation of one still (needs PyTorch)"),
            "convert": ("convert", "turn a fast_neural_style .pth into ONNX, or re-export an rtstyle .onnx "
                        "(needs PyTorch)")}


def run_command(name: str, argv: Sequence[str]) -> int:
    """``rtstyle <name> <argv...>`` for a name in :data:`COMMANDS`; its exit status."""
    return int(_module(COMMANDS[name][0]).main(list(argv)))
