"""One training stage: a network learns a painting with the perceptual loss of Johnson et al.
(2016), checkpointing as it goes, then is exported to ONNX.

:func:`train` runs a :class:`TrainConfig`; ``rtstyle train`` (:mod:`rtstyle.training.schedule`) runs the
stages of a new style. A run checkpoints every ``checkpoint_every`` steps and when it is
interrupted, and a resumed run draws the same batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from rtstyle.errors import InputError
from rtstyle.training.convert import read_network
from rtstyle.training.data import MIN_DISTINCT, CropSampler, load_content, load_rgb, resized, split_holdout, to_tensor
from rtstyle.training.losses import (
    content_distance,
    feature_distance,
    gram_matrix,
    mirrored,
    moved_whole,
    painting_distance,
    small_motion,
    spectrum_bins,
    spectrum_distance,
    style_distance,
    temporal_distance,
    total_variation,
    warp,
)
from rtstyle.training.onnx_export import export_onnx
from rtstyle.training.transformer_net import (
    FastTransformerNetV2,
    load_deepening,
    narrow,
    network_for,
    upgrade,
    variant_of,
    version_of,
)
from rtstyle.training.vgg import VGGFeatures

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@dataclass(frozen=True)
class TrainConfig:
    style: str
    content: tuple[str, ...]  # folders of photos and video files
    vgg_weights: str | None
    name: str
    run_dir: str
    steps: int = 2000
    batch_size: int = 4
    crop: int = 128
    content_size: int = 160
    style_size: int = 384
    content_layer: str = "relu2_2"
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0
    # The output's luminance energy over frequency and orientation against the painting's
    # (rtstyle.training.losses.spectrum_distance): a periodic fill such as the diagonal hatch is a peak there.
    spectrum_weight: float = 0.0
    lr: float = 1e-3
    anneal: bool = False  # the rate falls along half a cosine to zero at the last step (else constant)
    variant: str = "full"
    channels: tuple[int, int, int] | None = None
    n_residual: int | None = None
    init_from: str | None = None  # a network to start from: style name, .onnx or checkpoint.pt (convert.py)
    teacher: str | None = None  # a trained network to distil from, named the same ways
    distill_weight: float = 0.0
    # Stability (rtstyle.training.losses.temporal_distance): the output of a slightly moved, slightly noisy
    # copy of each crop must be the output moved the same way. Motions up to these sizes.
    temporal_weight: float = 0.0
    motion_shift: float = 2.0  # pixels
    motion_degrees: float = 1.0
    motion_zoom: float = 0.02
    motion_noise: float = 2.0  # standard deviation of the noise added to the moved copy, in 0–255 levels
    # Borders (rtstyle.training.losses.painting_distance): each crop must be painted as the network paints
    # it with ``border_margin`` mirrored pixels around it, so the network paints no band along a
    # picture's edges and the engine needs no mirrored ``edge_pad`` margin (which costs time).
    border_weight: float = 0.0
    border_margin: int = 32  # a multiple of 4: the margin keeps the network's grid
    # Grid (rtstyle.training.losses.painting_distance): each crop moved by 1-3 whole pixels must be painted
    # as its painting moved the same way, so strokes do not depend on the network's quarter-size grid.
    shift_weight: float = 0.0
    # Faint noise (rtstyle.training.losses.painting_distance): each crop plus noise of ``noise_level`` levels
    # must be painted as the crop, so the network does not blow the faint grain of skies and walls up
    # into a texture of its own (the diagonal hatch, docs/training.md).
    noise_weight: float = 0.0
    noise_level: float = 3.0
    version: int = 1  # of the network (fast: 2 is rtstyle.training.transformer_net.FastTransformerNetV2)
    holdout_every: int = 50
    frames_per_video: int = 200
    min_content: int = MIN_DISTINCT
    checkpoint_every: int = 100
    sample_every: int = 250
    seed: int = 0
    threads: int = 0
    export_dir: str | None = "models"
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Losses:
    content: float
    style: float
    tv: float
    distill: float = 0.0
    temporal: float = 0.0
    spectrum: float = 0.0
    border: float = 0.0
    shift: float = 0.0
    noise: float = 0.0

    @property
    def total(self) -> float:
        return (self.content + self.style + self.tv + self.distill + self.temporal + self.spectrum + self.border
                + self.shift + self.noise)


class Trainer:
    """Owns the network, the loss network, the optimizer and the run folder."""

    def __init__(self, config: TrainConfig, vgg: VGGFeatures | None = None, images: list[np.ndarray] | None = None):
        self.config = config
        self.run_dir = Path(config.run_dir)
        style = to_tensor(load_rgb(config.style, long_side=config.style_size))
        if images is None:
            images = content_of(config)
        train, self.held_out = split_holdout(images, config.holdout_every)
        self.sampler = CropSampler(train, crop=config.crop, seed=config.seed)
        start = read_network(config.init_from) if config.init_from else None
        if start is not None and variant_of(start) != config.variant:
            raise InputError(f"--init-from {config.init_from} is a {variant_of(start)} network, not a "
                             f"{config.variant} one")
        if start is not None and version_of(start) > config.version:
            raise InputError(f"--init-from {config.init_from} is a version {version_of(start)} {config.variant} "
                             f"network and cannot start a version {config.version} one")
        if start is not None and config.version == 2 and version_of(start) == 1:
            start = upgrade(start, self.sampler.batch(0, 16))  # type: ignore[arg-type]
        if isinstance(start, FastTransformerNetV2) and config.channels and config.channels != start.channels:
            if config.channels[1:] != start.channels[1:]:
                raise InputError(f"--channels {','.join(map(str, config.channels))}: a v2 network started from "
                                 f"{config.init_from} can only narrow its first width "
                                 f"({','.join(map(str, start.channels))})")
            start = narrow(start, config.channels[0])
        self.net = network_for(config.variant, config.channels or getattr(start, "channels", None),
                               config.n_residual or getattr(start, "n_residual", None), config.version)
        if start is not None:
            load_deepening(self.net, start.state_dict())
        self.teacher = read_network(config.teacher).requires_grad_(False) if config.teacher else None
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.step = 0
        self.vgg = vgg or VGGFeatures("vgg16", loss_layers(config), config.vgg_weights)
        with torch.no_grad():
            feats = self.vgg(style)
            self.style_grams = [gram_matrix(getattr(feats, name)) for name in STYLE_LAYERS]
        self.style_spectrum = painting_spectrum(style, config.crop, config.seed) if config.spectrum_weight else None

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def losses(self, photos: torch.Tensor) -> tuple[torch.Tensor, Losses]:
        """Weighted loss of the network on a batch of RGB 0–255 photos."""
        c = self.config
        out = self.net(photos)
        zero = out.new_zeros(())
        content = style = tv = distill = temporal = spectrum = border = shift = noise = zero
        distilling = self.teacher is not None and c.distill_weight
        if c.content_weight or c.style_weight or distilling:
            f_out = self.vgg(out)
        if c.content_weight or c.style_weight:
            f_in = self.vgg(photos)
            content = c.content_weight * content_distance(getattr(f_out, c.content_layer),
                                                          getattr(f_in, c.content_layer))
            style = c.style_weight * style_distance(_style_layers(f_out), self.style_grams)
        if c.tv_weight:
            tv = c.tv_weight * total_variation(out)
        if distilling:
            with torch.no_grad():
                f_teacher = self.vgg(self.teacher(photos).clamp(0, 255))
            distill = c.distill_weight * feature_distance(_style_layers(f_out), _style_layers(f_teacher))
        if c.temporal_weight:
            temporal = c.temporal_weight * self._temporal(photos, out)
        if self.style_spectrum is not None:
            spectrum = c.spectrum_weight * spectrum_distance(out, self.style_spectrum)
        if c.border_weight:
            # within the crop (torch's reflect needs that) and even, so the margined crop keeps the multiple of 4
            m = min(c.border_margin, (min(photos.shape[-2:]) - 1) // 2 * 2)
            border = c.border_weight * painting_distance(out, self.net(mirrored(photos, m))[:, :, m:-m, m:-m])
        if c.shift_weight:
            shift = c.shift_weight * self._shift(photos, out)
        if c.noise_weight:
            grain = torch.randn(photos.shape, generator=self._step_generator(1_000_037)) * c.noise_level
            noise = c.noise_weight * painting_distance(self.net((photos + grain).clamp(0, 255)), out)
        return (content + style + tv + distill + temporal + spectrum + border + shift + noise,
                Losses(content.item(), style.item(), tv.item(), distill.item(), temporal.item(), spectrum.item(),
                       border.item(), shift.item(), noise.item()))

    def _step_generator(self, salt: int) -> torch.Generator:
        """Random numbers of this step, the same again when a run resumes here."""
        return torch.Generator().manual_seed(self.config.seed * salt + self.step)

    def _shift(self, photos: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        generator = self._step_generator(1_000_033)
        dy, dx = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        if dy % 4 == 0 and dx % 4 == 0:  # a whole cell of the grid teaches nothing: move one pixel at least
            dx = 1 + int(torch.randint(0, 3, (1,), generator=generator))
        b = min(16, (min(photos.shape[2:]) - 4) // 4)  # away from the zero padding's reach, within small crops
        return painting_distance(self.net(moved_whole(photos, dy, dx))[:, :, b:-b, b:-b],
                                 moved_whole(out, dy, dx)[:, :, b:-b, b:-b])

    def _temporal(self, photos: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        c = self.config
        generator = self._step_generator(1_000_003)
        theta = small_motion(len(photos), generator, shift=c.motion_shift, degrees=c.motion_degrees,
                             zoom=c.motion_zoom, size=tuple(photos.shape[2:]))  # type: ignore[arg-type]
        noise = torch.randn(photos.shape, generator=generator) * c.motion_noise
        moved = (warp(photos, theta) + noise).clamp(0, 255)
        return temporal_distance(self.net(moved), out, theta)

    def train_step(self) -> Losses:
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        for group in self.optimizer.param_groups:  # set every step: a resumed run's saved rate is stale
            group["lr"] = self.rate(self.step)
        loss, parts = self.losses(self.sampler.batch(self.step, self.config.batch_size))
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return parts

    def rate(self, step: int) -> float:
        """The learning rate of ``step``: annealed, the last steps settle instead of jumping about."""
        if not self.config.anneal:
            return self.config.lr
        return self.config.lr * 0.5 * (1.0 + math.cos(math.pi * step / self.config.steps))

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # The widths and depth the network was built with, also where they came from --init-from (None in
        # the config): without them a checkpoint cannot be read back or start another run.
        config = dataclasses.asdict(self.config) | {"channels": list(self.net.channels),
                                                    "n_residual": self.net.n_residual}
        state = {"step": self.step, "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "config": config}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)
        (self.run_dir / "config.json").write_text(json.dumps(config, indent=2))

    def load(self) -> None:
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])

    def sample_grid(self, path: Path, count: int = 6, size: int = 256) -> None:
        """Held-out photos (top row) above their stylizations (bottom row), as a PNG."""
        self.net.eval()
        tops, bottoms = [], []
        with torch.no_grad():
            for image in self.held_out[:count]:
                photo = resized(image, short_side=size)[:size, :size]
                out = self.net(to_tensor(photo)).clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
                tops.append(photo)
                bottoms.append(out)
        grid = np.vstack([np.hstack(tops), np.hstack(bottoms)])
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), grid[..., ::-1])


def painting_spectrum(painting: torch.Tensor, crop: int, seed: int, count: int = 32) -> torch.Tensor:
    """The painting's :func:`spectrum_bins` (1×bins), averaged over ``count`` random crops of the
    training crop's size (smaller where the painting is)."""
    _, _, h, w = painting.shape
    size = min(crop, h, w)
    generator = torch.Generator().manual_seed(seed)
    ys = torch.randint(0, h - size + 1, (count,), generator=generator).tolist()
    xs = torch.randint(0, w - size + 1, (count,), generator=generator).tolist()
    crops = torch.cat([painting[:, :, y : y + size, x : x + size] for y, x in zip(ys, xs, strict=True)])
    return spectrum_bins(crops).mean(0, keepdim=True)


def content_of(config: TrainConfig) -> list[np.ndarray]:
    """The content images ``config`` names (an :class:`InputError` when too few)."""
    return load_content(config.content, short_side=config.content_size, frames_per_video=config.frames_per_video,
                        minimum=config.min_content)


def load_network(checkpoint: str | Path) -> torch.nn.Module:
    """The trained network of an rtstyle training checkpoint, in eval mode."""
    return read_network(checkpoint)


def _style_layers(features: object) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(features, name) for name in STYLE_LAYERS)


def loss_layers(config: TrainConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*STYLE_LAYERS, config.content_layer)))


def train(config: TrainConfig, *, resume: bool = False, quiet: bool = False, vgg: VGGFeatures | None = None,
          bar: tqdm | None = None, on_step: Callable[[int], None] | None = None,
          images: list[np.ndarray] | None = None) -> Trainer:
    """Train until ``config.steps`` (continuing a saved run with ``resume``), then export.

    ``images`` are the content when already loaded (:func:`content_of`); ``bar`` is a progress bar
    to advance (one over several stages); ``on_step`` is called after
    every step and may raise to stop. However the loop ends early (Ctrl-C, a cancelled job), the
    checkpoint is saved where it stopped, so ``resume`` goes on from there.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    trainer = Trainer(config, vgg=vgg, images=images)
    if resume and trainer.checkpoint_path.exists():
        trainer.load()
    own_bar = bar is None
    if bar is None:
        bar = tqdm(total=config.steps, initial=trainer.step, disable=quiet, desc=config.name, unit="step")
    try:
        while trainer.step < config.steps:
            parts = trainer.train_step()
            bar.update(1)
            bar.set_postfix(content=f"{parts.content:.3g}", style=f"{parts.style:.3g}",
                            distill=f"{parts.distill:.3g}", **({"temporal": f"{parts.temporal:.3g}"}
                                                               if config.temporal_weight else {}),
                            **({"spectrum": f"{parts.spectrum:.3g}"} if config.spectrum_weight else {}),
                            **({"border": f"{parts.border:.3g}"} if config.border_weight else {}),
                            **({"shift": f"{parts.shift:.3g}"} if config.shift_weight else {}),
                            **({"noise": f"{parts.noise:.3g}"} if config.noise_weight else {}))
            if trainer.step % config.checkpoint_every == 0 or trainer.step == config.steps:
                trainer.save()
            if trainer.step % config.sample_every == 0 or trainer.step == config.steps:
                trainer.sample_grid(trainer.run_dir / "samples" / f"step_{trainer.step:06d}.png")
            if on_step is not None:
                on_step(trainer.step)
    except BaseException:
        if trainer.step:
            trainer.save()
        raise
    finally:
        if own_bar:
            bar.close()
    if config.export_dir:
        export_trained(trainer)
    return trainer


def export_trained(trainer: Trainer) -> Path:
    c = trainer.config
    meta = {"style": c.name, **dict(c.metadata), "steps": trainer.step,
            "training": {k: v for k, v in dataclasses.asdict(c).items() if k not in ("metadata",)},
            "exported": time.strftime("%Y-%m-%d")}
    out = Path(c.export_dir or ".") / f"{c.name}.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(trainer.net.eval(), out, precision="fp16", metadata=meta)
