"""Train a style with the perceptual loss of Johnson et al. (2016), then export it to ONNX.

``rtstyle train --style painting.jpg --content-dir photos/ --vgg-weights vgg16.pth --name NAME``
checkpoints every ``--checkpoint-every`` steps into ``--run-dir`` and continues from there with
``--resume``; a resumed run draws the same batches an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from export.data import CropSampler, list_images, load_rgb, split_holdout, to_tensor
from export.losses import content_distance, feature_distance, gram_matrix, style_distance, total_variation
from export.onnx_export import export_onnx
from export.transformer_net import load_deepening, network_for
from export.vgg import VGGFeatures

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
_SPECIAL_ARGS = {"style", "content_dir", "vgg_weights", "name", "run_dir", "init_from", "metadata", "channels",
                 "n_residual", "teacher"}


@dataclass(frozen=True)
class TrainConfig:
    style: str
    content_dir: str
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
    lr: float = 1e-3
    variant: str = "full"
    channels: tuple[int, int, int] | None = None
    n_residual: int | None = None
    init_from: str | None = None
    teacher: str | None = None  # checkpoint.pt of a trained network to distil from
    distill_weight: float = 0.0
    holdout_every: int = 50
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

    @property
    def total(self) -> float:
        return self.content + self.style + self.tv + self.distill


class Trainer:
    """Owns the network, the loss network, the optimizer and the run folder."""

    def __init__(self, config: TrainConfig, vgg: VGGFeatures | None = None):
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.vgg = vgg or VGGFeatures("vgg16", _loss_layers(config), config.vgg_weights)
        self.net = network_for(config.variant, config.channels, config.n_residual)
        if config.init_from:
            load_deepening(self.net, torch.load(config.init_from, map_location="cpu", weights_only=True)["net"])
        self.teacher = load_network(config.teacher).requires_grad_(False) if config.teacher else None
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.step = 0
        train, held = split_holdout(list_images(config.content_dir), config.holdout_every)
        self.sampler = CropSampler(train, crop=config.crop, short_side=config.content_size, seed=config.seed)
        self.held_out = held
        style = to_tensor(load_rgb(config.style, long_side=config.style_size))
        with torch.no_grad():
            feats = self.vgg(style)
            self.style_grams = [gram_matrix(getattr(feats, name)) for name in STYLE_LAYERS]

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def losses(self, photos: torch.Tensor) -> tuple[torch.Tensor, Losses]:
        """Weighted loss of the network on a batch of RGB 0–255 photos."""
        c = self.config
        out = self.net(photos)
        zero = out.new_zeros(())
        content = style = tv = distill = zero
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
        return content + style + tv + distill, Losses(content.item(), style.item(), tv.item(), distill.item())

    def train_step(self) -> Losses:
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = self.losses(self.sampler.batch(self.step, self.config.batch_size))
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return parts

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"step": self.step, "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "config": dataclasses.asdict(self.config)}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)
        (self.run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=2))

    def load(self) -> None:
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # the saved state carries the old rate: --lr wins
            group["lr"] = self.config.lr
        self.step = int(state["step"])

    def sample_grid(self, path: Path, count: int = 6, size: int = 256) -> None:
        """Held-out photos (top row) above their stylizations (bottom row), as a PNG."""
        self.net.eval()
        tops, bottoms = [], []
        with torch.no_grad():
            for f in self.held_out[:count]:
                photo = load_rgb(f, short_side=size)[:size, :size]
                out = self.net(to_tensor(photo)).clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
                tops.append(photo)
                bottoms.append(out)
        grid = np.vstack([np.hstack(tops), np.hstack(bottoms)])
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), grid[..., ::-1])


def load_network(checkpoint: str | Path) -> torch.nn.Module:
    """The trained network of an rtstyle training checkpoint, in eval mode."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = state.get("config", {})
    channels = tuple(config["channels"]) if config.get("channels") else None
    net = network_for(config.get("variant", "full"), channels, config.get("n_residual"))  # type: ignore[arg-type]
    net.load_state_dict(state["net"])
    return net.eval()


def _style_layers(features: object) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(features, name) for name in STYLE_LAYERS)


def _loss_layers(config: TrainConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*STYLE_LAYERS, config.content_layer)))


def train(config: TrainConfig, *, resume: bool = False, quiet: bool = False, vgg: VGGFeatures | None = None) -> Trainer:
    """Train until ``config.steps`` (continuing a saved run with ``resume``), then export."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    trainer = Trainer(config, vgg=vgg)
    if resume and trainer.checkpoint_path.exists():
        trainer.load()
    bar = tqdm(total=config.steps, initial=trainer.step, disable=quiet, desc=config.name, unit="step")
    while trainer.step < config.steps:
        parts = trainer.train_step()
        bar.update(1)
        bar.set_postfix(content=f"{parts.content:.3g}", style=f"{parts.style:.3g}", distill=f"{parts.distill:.3g}")
        if trainer.step % config.checkpoint_every == 0 or trainer.step == config.steps:
            trainer.save()
        if trainer.step % config.sample_every == 0 or trainer.step == config.steps:
            trainer.sample_grid(trainer.run_dir / "samples" / f"step_{trainer.step:06d}.png")
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


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="rtstyle train", description=__doc__)
    d = TrainConfig("", "", None, "", "")
    p.add_argument("--style", required=True, help="the painting (any image file)")
    p.add_argument("--content-dir", required=True, help="folder of training photos")
    p.add_argument("--vgg-weights", help="VGG16 state dict (torchvision keys)")
    p.add_argument("--name", required=True, help="style name; the model is written as NAME.onnx")
    p.add_argument("--run-dir", help="checkpoints and samples (default runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--init-from", help="start from another run's checkpoint.pt (one with fewer residual blocks "
                   "too: the new blocks start as the identity)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata for the ONNX file (painting, artist, year, license)")
    p.add_argument("--quiet", action="store_true")
    for field in dataclasses.fields(TrainConfig):
        if field.name in _SPECIAL_ARGS:
            continue
        default = getattr(d, field.name)
        kind = type(default) if default is not None else str
        p.add_argument("--" + field.name.replace("_", "-"), type=kind, default=default,
                       help=f"default {default}")
    p.add_argument("--channels", help="widths of the three stages, e.g. 32,64,128 (default: the variant's)")
    p.add_argument("--n-residual", type=int, help="residual blocks (default: the variant's)")
    p.add_argument("--teacher", help="checkpoint.pt of a trained network to distil from")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name) and f.name not in {"channels", "metadata"}}
    values["teacher"] = args.teacher
    values["run_dir"] = args.run_dir or f"runs/{args.name}"
    values["channels"] = tuple(int(c) for c in args.channels.split(",")) if args.channels else None
    values["metadata"] = tuple(tuple(m.split("=", 1)) for m in args.meta)
    train(TrainConfig(**values), resume=args.resume, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
