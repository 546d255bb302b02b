"""Style transfer by optimising the picture itself (Gatys, Ecker & Bethge 2016).

``rtstyle optimize photo.jpg painting.jpg out.png`` starts from the photo (or from noise) and
changes its pixels until its VGG features match the photo's content and the painting's Gram
matrices. It is slow (hundreds of VGG passes per picture) but needs no trained network, and it
is the reference the trained networks are measured against (``python -m export.quality``).

The default recipe is the training loss of ``rtstyle/training/train.py`` (VGG16, content at relu2_2,
style at relu1_2…relu4_3, the same weights), so an optimised picture and a network's output
are scored by the same numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from tqdm import tqdm

from rtstyle.errors import InputError, OutputError, reporting_errors
from rtstyle.images import write_image
from rtstyle.training import OptimizeRequest
from rtstyle.training.data import to_tensor
from rtstyle.training.losses import content_distance, gram_matrix, style_distance
from rtstyle.training.train import STYLE_LAYERS, Losses
from rtstyle.training.vgg import VGGFeatures, vgg16_weights
from rtstyle.video import check_writable


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """Which VGG layers carry content and style for one loss network, and their default weights."""

    weights_file: str
    content_layer: str
    style_layers: tuple[str, ...]
    content_weight: float
    style_weight: float


RECIPES = {
    # Johnson et al.'s layers, exactly the training loss of rtstyle/training/train.py.
    "vgg16": Recipe(weights_file="vgg16-imagenet-features.pth", content_layer="relu2_2",
                    style_layers=STYLE_LAYERS, content_weight=1e5, style_weight=1e10),
    # Gatys et al.'s layers. The Caffe weights see 0–255 input rather than ~±2, so their distances
    # are on another scale; these weights end a Starry Night optimisation with the same
    # content : style balance as the vgg16 recipe.
    "vgg19": Recipe(weights_file="vgg19-caffe-features-fp16.pth", content_layer="relu4_2",
                    style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                    content_weight=1.5, style_weight=10.0),
}


@dataclass(frozen=True, kw_only=True)
class OptimizeConfig:
    """One optimisation. ``lr`` is Adam's step in 0–255 pixel units (L-BFGS needs none)."""

    network: str = "vgg16"
    vgg_weights: str | None = None
    steps: int = 200
    content_layer: str = RECIPES["vgg16"].content_layer
    style_layers: tuple[str, ...] = RECIPES["vgg16"].style_layers
    content_weight: float = RECIPES["vgg16"].content_weight
    style_weight: float = RECIPES["vgg16"].style_weight
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.init not in ("content", "noise"):
            raise InputError(f"init must be 'content' or 'noise', not {self.init!r}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise InputError(f"optimizer must be 'lbfgs' or 'adam', not {self.optimizer!r}")
        if self.steps < 1:
            raise InputError(f"steps must be at least 1, not {self.steps}")

    @classmethod
    def for_network(cls, network: str, **options: object) -> OptimizeConfig:
        """The recipe of ``network`` (layers and weights), with ``options`` overriding it."""
        r = RECIPES[network]
        base = cls(network=network, content_layer=r.content_layer, style_layers=r.style_layers,
                   content_weight=r.content_weight, style_weight=r.style_weight)
        return replace(base, **options)  # type: ignore[arg-type]


class Optimized(NamedTuple):
    image: np.ndarray  # uint8 RGB, the shape of the content input
    losses: Losses  # of the uint8 image, weighted as in the config


class PerceptualLoss:
    """The weighted content + style loss of RGB 0–255 images N×3×H×W against fixed targets.

    ``content`` is N×3×H×W (one target per image), ``style`` 1×3×H'×W' (any size).
    """

    def __init__(self, vgg: VGGFeatures, content: torch.Tensor, style: torch.Tensor, config: OptimizeConfig):
        self.vgg = vgg
        self.config = config
        with torch.no_grad():
            self.content_target = getattr(vgg(content), config.content_layer)
            features = vgg(style)
            self.style_grams = [gram_matrix(getattr(features, name)) for name in config.style_layers]

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, Losses]:
        c = self.config
        features = self.vgg(images)
        content = c.content_weight * content_distance(getattr(features, c.content_layer), self.content_target)
        style = c.style_weight * style_distance(tuple(getattr(features, n) for n in c.style_layers), self.style_grams)
        return content + style, Losses(content.item(), style.item(), 0.0)


def load_vgg(config: OptimizeConfig, extra_layers: tuple[str, ...] = (), *, progress: bool = False) -> VGGFeatures:
    """The loss network of ``config``. VGG16's weights come from ``config.vgg_weights``, else torch's hub
    cache or ``$RTSTYLE_VGG16_URL`` (:func:`~rtstyle.training.vgg.vgg16_weights`, as for training);
    other networks need ``config.vgg_weights``."""
    layers = tuple(dict.fromkeys((*config.style_layers, config.content_layer, *extra_layers)))
    weights: str | dict[str, torch.Tensor]
    if config.network == "vgg16":
        weights, source = vgg16_weights(config.vgg_weights, progress=progress)
    elif not config.vgg_weights:
        raise InputError(f"the {config.network} loss network needs --vgg-weights PATH (a {config.network} state dict "
                         f"such as {RECIPES[config.network].weights_file})")
    elif not Path(config.vgg_weights).is_file():
        raise InputError(f"VGG weights not found: {config.vgg_weights}")
    else:
        weights = source = config.vgg_weights
    try:
        return VGGFeatures(config.network, layers, weights)
    except (ValueError, RuntimeError, OSError, KeyError) as exc:  # torch.load raises any of these
        raise InputError(f"{source}: not a {config.network} state dict ({exc})") from exc


def optimize(content_rgb: np.ndarray, style_rgb: np.ndarray, *, config: OptimizeConfig,
             vgg: VGGFeatures | None = None, progress: bool = False,
             on_step: Callable[[int], None] | None = None) -> Optimized:
    """Optimise pictures that keep ``content_rgb``'s content in ``style_rgb``'s style.

    ``content_rgb``: uint8 RGB H×W×3, or N×H×W×3 to optimise N pictures at once (the loss is
    their mean, so each gets the same result as alone, up to L-BFGS's shared line search).
    ``style_rgb``: uint8 RGB H'×W'×3 at the scale whose texture should appear.
    Returns uint8 RGB of ``content_rgb``'s shape and the losses of exactly that uint8 picture.
    ``on_step(steps_done)`` is called after every VGG pass; an exception it raises ends the run.
    """
    torch.manual_seed(config.seed)
    vgg = vgg or load_vgg(config)
    content = to_tensor(content_rgb).contiguous()
    loss = PerceptualLoss(vgg, content, to_tensor(style_rgb), config)
    start = content.clone() if config.init == "content" else _noise_like(content)
    passes = 0  # counted here: a disabled tqdm bar counts nothing
    with tqdm(total=config.steps, disable=not progress, desc="optimize", unit="step") as bar:
        def advance(parts: Losses) -> None:
            nonlocal passes
            passes = min(passes + 1, config.steps)  # L-BFGS's line search may overrun by a few passes
            _advance(bar, parts)
            if on_step is not None:
                on_step(passes)
        pictures = (_run_lbfgs if config.optimizer == "lbfgs" else _run_adam)(start, loss, config, advance)
    pictures = pictures.clamp(0, 255).round()
    with torch.no_grad():
        _, losses = loss(pictures)
    out = pictures.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return Optimized(out[0] if content_rgb.ndim == 3 else out, losses)


def _noise_like(images: torch.Tensor) -> torch.Tensor:
    return (128 + 40 * torch.randn_like(images)).clamp(0, 255)


def _run_lbfgs(start: torch.Tensor, loss: PerceptualLoss, config: OptimizeConfig,
               advance: Callable[[Losses], None]) -> torch.Tensor:
    # L-BFGS has no bounds, and clamping its result afterwards undoes much of the style (its
    # unbounded optimum puts a few percent of the pixels far outside 0–255). It works on
    # logits instead, so every picture it tries is one that can be written out.
    # One step() call runs the whole optimisation, so the curvature history is never reset;
    # each closure call is one VGG forward and backward pass, the unit of ``steps``.
    unit = (start / 255).clamp(0.002, 0.998)
    logits = torch.log(unit / (1 - unit)).requires_grad_(True)
    optimizer = torch.optim.LBFGS([logits], lr=1, max_iter=config.steps, max_eval=config.steps, history_size=50,
                                  tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total, parts = loss(255 * torch.sigmoid(logits))
        total.backward()
        advance(parts)
        return total

    optimizer.step(closure)
    return 255 * torch.sigmoid(logits.detach())


def _run_adam(start: torch.Tensor, loss: PerceptualLoss, config: OptimizeConfig,
              advance: Callable[[Losses], None]) -> torch.Tensor:
    image = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=config.lr)
    for _ in range(config.steps):
        optimizer.zero_grad()
        total, parts = loss(image)
        total.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 255)  # harmless for Adam; for L-BFGS it would corrupt the curvature history
        advance(parts)
    return image.detach()


def _advance(bar: tqdm, parts: Losses) -> None:
    if bar.n < bar.total:  # L-BFGS's line search may overrun max_eval by a few passes
        bar.update(1)
    bar.set_postfix(content=f"{parts.content:.3g}", style=f"{parts.style:.3g}", refresh=False)


def optimize_request(request: OptimizeRequest, *, on_step: Callable[[int, int], None] | None = None) -> np.ndarray:
    """:func:`rtstyle.training.optimize_picture`."""
    config = OptimizeConfig(steps=request.steps, vgg_weights=str(request.vgg_weights) if request.vgg_weights else None)
    step = None if on_step is None else (lambda done: on_step(done, config.steps))
    return optimize(request.photo_rgb, request.painting_rgb, config=config, on_step=step).image


def read_rgb(path: str | Path, *, long_side: int) -> np.ndarray:
    """uint8 RGB H×W×3 with its long side resized to ``long_side``; InputError when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"not an image OpenCV can read: {path}")
    h, w = bgr.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(bgr[..., ::-1])


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    """Encode by ``path``'s suffix and write atomically, so a failed run leaves no file."""
    write_image(path, rgb[..., ::-1])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtstyle optimize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("content", help="the photo")
    p.add_argument("style", help="the painting")
    p.add_argument("output", help="the result (.png, .jpg, ...)")
    p.add_argument("--steps", type=int, default=OptimizeConfig.steps, help="VGG passes (default %(default)s)")
    p.add_argument("--size", type=int, default=384, help="long side of the result in pixels (default %(default)s)")
    p.add_argument("--style-size", type=int, help="long side the painting is scaled to (default: --size)")
    p.add_argument("--content-weight", type=float, help="default: the network's recipe (vgg16: 1e5)")
    p.add_argument("--style-weight", type=float, help="default: the network's recipe (vgg16: 1e10)")
    p.add_argument("--network", choices=sorted(RECIPES), default="vgg16", help="loss network (default %(default)s)")
    p.add_argument("--vgg-weights", help="the network's state dict (vgg16's default: torch's hub cache, else "
                   "$RTSTYLE_VGG16_URL or torchvision's, fetched once)")
    p.add_argument("--init", choices=("content", "noise"), default="content", help="start from (default %(default)s)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="default %(default)s")
    p.add_argument("--lr", type=float, default=OptimizeConfig.lr, help="Adam's step in pixel units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def run(args: argparse.Namespace) -> Path:
    """The command itself; raises RtstyleError subclasses for anything the user can fix."""
    output = Path(args.output)
    check_writable(output)
    if not cv2.haveImageWriter(str(output)):
        raise OutputError(f"cannot write {output.suffix or 'suffix-less'!r} images: {output}")
    if args.size < 16:
        raise InputError(f"--size must be at least 16, not {args.size}")
    content = read_rgb(args.content, long_side=args.size)
    style = read_rgb(args.style, long_side=args.style_size or args.size)
    options = {k: v for k, v in (("content_weight", args.content_weight), ("style_weight", args.style_weight))
               if v is not None}
    config = OptimizeConfig.for_network(args.network, vgg_weights=args.vgg_weights, steps=args.steps,
                                        init=args.init, optimizer=args.optimizer, lr=args.lr, seed=args.seed,
                                        **options)
    vgg = load_vgg(config, progress=not args.quiet)
    start = time.perf_counter()
    result = optimize(content, style, config=config, vgg=vgg, progress=not args.quiet)
    write_rgb(output, result.image)
    if not args.quiet:
        h, w = result.image.shape[:2]
        print(f"{output}: {w}×{h}, {config.steps} steps in {time.perf_counter() - start:.0f} s "
              f"(content {result.losses.content:.3g}, style {result.losses.style:.3g})", file=sys.stderr)
    return output


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        run(args)
        return 0

    return reporting_errors(command)


if __name__ == "__main__":
    raise SystemExit(main())
