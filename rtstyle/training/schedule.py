"""``rtstyle train PAINTING``: your painting as a real-time style, in minutes on a laptop's CPU.

The default schedule has two stages, each started from a shipped network rather than from
scratch: the shipped painting nearest to yours (by the Gram distance of their VGG16 features)
lends its full network to stage 1, which learns your painting; stage 2 distils the fast
variant from that new full network, starting from the nearest painting's fast network. Both are
exported and installed into your model folder (``~/.local/share/rtstyle/models``, or the first
folder of ``$RTSTYLE_MODELS``) with the painting's thumbnail beside them, so ``rtstyle styles``,
``webcam``, ``video`` and ``serve`` use them at once.

Content is what the network learns to paint: folders of photos, video files (frames spread over
each: train on the video you are about to stylize), or both, at least 50 distinct images.
Ctrl-C keeps the checkpoint; the same command with ``--resume`` goes on.

Without ``--vgg-weights``, torchvision's published VGG16 weights are fetched once into torch's
cache (``$RTSTYLE_VGG16_URL`` names another source).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rtstyle.errors import InputError, RtstyleError
from rtstyle.images import write_thumbnail
from rtstyle.models import StyleInfo, find_style, install_dir, installed_styles, thumbnail_path, user_data_dir
from rtstyle.training import FAST_STEPS, FULL_STEPS, TrainRequest
from rtstyle.training.data import load_rgb, to_tensor
from rtstyle.training.losses import gram_matrix, style_distance
from rtstyle.training.recipes import FAST_CONTENT_WEIGHT, FAST_DISTILL_WEIGHT, FAST_STYLE_WEIGHT, FAST_TEMPORAL_WEIGHT
from rtstyle.training.train import STYLE_LAYERS, TrainConfig, content_of, loss_layers, train
from rtstyle.training.vgg import VGGFeatures, vgg16_weights

# Each variant's loss when the command line does not say: the zoo's recipes (rtstyle.training.recipes).
LOSS_DEFAULTS = {
    "full": {"content_weight": TrainConfig.content_weight, "style_weight": TrainConfig.style_weight,
             "distill_weight": 0.0, "temporal_weight": 0.0},
    "fast": {"content_weight": FAST_CONTENT_WEIGHT, "style_weight": FAST_STYLE_WEIGHT,
             "distill_weight": FAST_DISTILL_WEIGHT, "temporal_weight": FAST_TEMPORAL_WEIGHT},
}
# The network each variant trains: the shipped fast networks are the second ones
# (rtstyle.training.transformer_net.FastTransformerNetV2), so a painting's fast network starts from one.
VERSIONS = {"full": 1, "fast": 2}
_GIVEN_ELSEWHERE = {"style", "content", "vgg_weights", "name", "run_dir", "steps", "variant", "channels",
                    "n_residual", "init_from", "teacher", "export_dir", "metadata", "version", *LOSS_DEFAULTS["full"]}


@dataclass(frozen=True)
class Stage:
    config: TrainConfig
    label: str


def nearest_paintings(painting: str | Path, vgg: VGGFeatures, *, exclude: str = "") -> list[StyleInfo]:
    """Installed full networks whose painting ships beside them, nearest to ``painting`` first
    (Gram distance over relu1_2…relu4_3, both pictures at a 256-px long side)."""
    def features(path: str | Path) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            taps = vgg(to_tensor(load_rgb(path, long_side=256)))
        return tuple(getattr(taps, name) for name in STYLE_LAYERS)

    target = [gram_matrix(f) for f in features(painting)]
    scored = []
    for style in installed_styles():
        thumbnail = style.thumbnail
        if style.variant == "full" and style.base != exclude and thumbnail.is_file():
            with torch.no_grad():
                distance = style_distance(features(thumbnail), target).item()
            scored.append((distance, style.name, style))
    return [style for _, _, style in sorted(scored, key=lambda s: s[:2])]


def fast_network_of(full: StyleInfo | None) -> StyleInfo | None:
    if full is None:
        return None
    return next((s for s in installed_styles() if s.variant == "fast" and s.base == full.base), None)


def plan(args: argparse.Namespace, vgg: VGGFeatures, weights_source: str) -> list[Stage]:
    """The stages ``args`` ask for, each a complete :class:`TrainConfig`."""
    name = style_name(args)
    run_dir = run_folder(args)
    export_dir = Path(args.export_dir) if args.export_dir else install_dir()
    meta = dict(m.split("=", 1) for m in args.meta)
    meta.setdefault("painting", re.sub(r"[_-]+", " ", Path(args.painting).stem).strip() or name)
    meta.setdefault("license", "your own: the painting's and the model's")
    meta["base_style"] = name.removesuffix("_fast")
    common = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if f.name not in _GIVEN_ELSEWHERE and hasattr(args, f.name)}
    base = TrainConfig(style=str(args.painting), content=tuple(args.content), vgg_weights=weights_source, name=name,
                       run_dir=str(run_dir), export_dir=str(export_dir), metadata=tuple(meta.items()), **common)
    variants = ("full", "fast") if args.variant == "both" else (args.variant,)
    init = _initial_networks(args, vgg, run_dir, exclude=name)
    stages = []
    for variant in variants:
        losses = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in LOSS_DEFAULTS[variant].items()}
        fast = variant == "fast"
        config = replace(base, variant=variant, name=name.removesuffix("_fast") + ("_fast" if fast else ""),
                         run_dir=str(run_dir / variant), init_from=init[variant],
                         steps=args.fast_steps if fast and args.variant == "both" else args.steps,
                         teacher=_teacher(args, run_dir, name.removesuffix("_fast")) if fast else None,
                         channels=_channels(args.channels), n_residual=args.n_residual,
                         version=_version(args, run_dir / variant, variant), **losses)
        stages.append(Stage(config, "fast network" if fast else "full network"))
    return stages


def style_name(args: argparse.Namespace) -> str:
    return args.name or _slug(Path(args.painting).stem)


def run_folder(args: argparse.Namespace) -> Path:
    return Path(args.run_dir) if args.run_dir else user_data_dir() / "runs" / style_name(args)


def _initial_networks(args: argparse.Namespace, vgg: VGGFeatures, run_dir: Path, exclude: str) -> dict[str, str | None]:
    """Where each stage starts: ``--init-from``, what a resumed run started from, else the nearest painting's."""
    saved = {v: _saved_config(run_dir / v) for v in ("full", "fast")}
    if args.resume and all(saved.values()):
        return {v: config.get("init_from") for v, config in saved.items()}  # type: ignore[misc]
    if args.init_from == "none":
        init = {"full": None, "fast": None}
    elif args.init_from:
        given = args.init_from
        init = {"full": given, "fast": given if args.variant == "fast" else _path(fast_network_of(_installed(given)))}
    else:
        ranking = nearest_paintings(args.painting, vgg, exclude=exclude)
        fast = next((f for f in map(fast_network_of, ranking) if f is not None), None)
        init = {"full": _path(ranking[0] if ranking else None), "fast": _path(fast)}
    if args.resume:  # a stage that has started keeps what it started from
        init.update({v: config.get("init_from") for v, config in saved.items() if config})  # type: ignore[misc]
    return init


def _version(args: argparse.Namespace, stage_dir: Path, variant: str) -> int:
    """A resumed stage goes on with the network it began; a new one trains the current version."""
    saved = _saved_config(stage_dir) if args.resume else {}
    return int(saved.get("version", VERSIONS[variant]))  # type: ignore[call-overload]


def _teacher(args: argparse.Namespace, run_dir: Path, name: str) -> str:
    """The fast network learns from: ``--teacher``, else this run's full network, else the installed one."""
    if args.teacher:
        return args.teacher
    checkpoint = run_dir / "full" / "checkpoint.pt"
    if args.variant == "both" or checkpoint.is_file():
        return str(checkpoint)
    if _installed(name) is not None:
        return name
    raise InputError(f"--variant fast needs a full network of {name} to learn from: train it first, or give --teacher")


def _installed(name_or_path: str) -> StyleInfo | None:
    """The style a name or an ``.onnx`` path names, or None (a checkpoint, or nothing installed)."""
    try:
        return find_style(name_or_path)
    except RtstyleError:
        return None


def _path(style: StyleInfo | None) -> str | None:
    return str(style.path) if style is not None else None


def _saved_config(stage_dir: Path) -> dict[str, object]:
    path = stage_dir / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _saved_step(stage_dir: Path) -> int:
    path = stage_dir / "checkpoint.pt"
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"]) if path.is_file() else 0


def _channels(text: str | None) -> tuple[int, int, int] | None:
    if not text:
        return None
    try:
        c1, c2, c3 = (int(c) for c in text.split(","))
    except ValueError:
        raise InputError(f"--channels takes three widths like 32,64,128, not {text!r}") from None
    return c1, c2, c3


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "my_style"


def run(stages: list[Stage], vgg: VGGFeatures, images: list[np.ndarray], *, resume: bool, quiet: bool,
        on_step: Callable[[int, int], None] | None = None) -> list[Path]:
    """Train the stages in order under one progress bar; returns the installed model files.

    ``on_step(done, total)`` counts steps over all stages and may raise to stop (the checkpoint is kept).
    """
    saved = [min(_saved_step(Path(s.config.run_dir)), s.config.steps) if resume else 0 for s in stages]
    total = sum(s.config.steps for s in stages)
    written = []
    with tqdm(total=total, initial=sum(saved), disable=quiet, unit="step", dynamic_ncols=True) as bar:
        for i, stage in enumerate(stages):
            bar.set_description(f"{stage.config.name}: {stage.label}")
            before = sum(s.config.steps for s in stages[:i])  # steps of the stages already done

            def step(n: int, before: int = before) -> None:
                if on_step is not None:
                    on_step(before + n, total)

            trainer = train(stage.config, resume=resume, vgg=vgg, bar=bar, on_step=step, images=images)
            written.append(Path(stage.config.export_dir or ".") / f"{trainer.config.name}.onnx")
    first = stages[0].config
    write_thumbnail(first.style, thumbnail_path(Path(first.export_dir or "."), dict(first.metadata)["base_style"]))
    return written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtstyle train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("painting", nargs="?", help="your painting (any image file)")
    p.add_argument("--style", dest="style_alias", metavar="PAINTING", help="the same as the PAINTING argument")
    p.add_argument("--name", help="style name (default: from the painting's file name); the fast network is NAME_fast")
    p.add_argument("--content", "--content-dir", action="append", default=[], metavar="DIR_OR_VIDEO",
                   help="folder of photos or a video file to learn from; repeat for more (at least 50 distinct "
                   "images in all)")
    p.add_argument("--init-from", metavar="STYLE_OR_PATH",
                   help="start from this network: a style name, an .onnx, a checkpoint.pt, or 'none' for scratch "
                   "(default: the shipped painting nearest to yours)")
    p.add_argument("--steps", type=int, default=FULL_STEPS,
                   help="steps of the full network, or of the one --variant names (default %(default)s)")
    p.add_argument("--fast-steps", type=int, default=FAST_STEPS,
                   help="steps of the fast network after the full one (default %(default)s)")
    p.add_argument("--variant", choices=("both", "full", "fast"), default="both",
                   help="train the full network, then its fast one (default), or only one of them")
    p.add_argument("--resume", action="store_true", help="go on from the run's checkpoints")
    p.add_argument("--vgg-weights", help="VGG16 state dict (default: torchvision's, downloaded once)")
    p.add_argument("--export-dir", help="where the models go (default: your model folder)")
    p.add_argument("--run-dir", help="checkpoints and samples (default: ~/.local/share/rtstyle/runs/NAME)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata: painting (the title shown), artist, year, license")
    p.add_argument("--teacher", metavar="STYLE_OR_PATH",
                   help="the full network the fast one learns from (default: this run's)")
    p.add_argument("--channels", help="widths of the three stages, e.g. 32,64,128 (with --variant full or fast)")
    p.add_argument("--n-residual", type=int, help="residual blocks (with --variant full or fast)")
    for key in LOSS_DEFAULTS["full"]:
        p.add_argument("--" + key.replace("_", "-"), type=float,
                       help=f"default {LOSS_DEFAULTS['full'][key]:g} (full), {LOSS_DEFAULTS['fast'][key]:g} (fast)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    defaults = TrainConfig("", (), None, "", "")
    for field in dataclasses.fields(TrainConfig):
        if field.name in _GIVEN_ELSEWHERE:
            continue
        value = getattr(defaults, field.name)
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            p.add_argument(flag, type=type(value), default=value, help=f"default {value}")
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line of ``rtstyle train``, checked (an :class:`InputError` for what cannot run)."""
    args = build_parser().parse_args(argv)
    args.painting = args.painting or args.style_alias
    return _checked(args)


def from_request(request: TrainRequest) -> argparse.Namespace:
    """What ``request`` asks for, with this command's defaults for everything else, checked."""
    args = build_parser().parse_args([])  # the defaults, no command line
    args.painting, args.content, args.name = str(request.painting), [str(p) for p in request.content], request.name
    args.steps, args.fast_steps, args.quiet = request.steps, request.fast_steps, request.quiet
    for key in ("run_dir", "export_dir", "vgg_weights"):
        value = getattr(request, key)
        setattr(args, key, str(value) if value is not None else None)
    return _checked(args)


def _checked(args: argparse.Namespace) -> argparse.Namespace:
    if not args.painting:
        raise InputError("name your painting: rtstyle train PAINTING --content DIR_OR_VIDEO")
    if not Path(args.painting).is_file():
        raise InputError(f"painting not found: {args.painting}")
    if args.variant == "both" and (args.channels or args.n_residual):
        raise InputError("--channels and --n-residual change one network: add --variant full or --variant fast")
    if min(args.steps, args.fast_steps) < 1:
        raise InputError("--steps and --fast-steps must be at least 1")
    return args


def content(args: argparse.Namespace) -> list[np.ndarray]:
    """The content images ``args`` name, loaded once for every stage."""
    return content_of(TrainConfig("", tuple(args.content), None, "", "", content_size=args.content_size,
                                  frames_per_video=args.frames_per_video, min_content=args.min_content))


def install(args: argparse.Namespace, images: list[np.ndarray], *,
            on_step: Callable[[int, int], None] | None = None) -> list[Path]:
    """Train what ``args`` ask for on ``images`` and install it; returns the model files."""
    state, source = vgg16_weights(args.vgg_weights, progress=not args.quiet)
    vgg = VGGFeatures("vgg16", loss_layers(TrainConfig("", (), None, "", "")), state)
    stages = plan(args, vgg, source)
    if not args.resume and any((Path(s.config.run_dir) / "checkpoint.pt").exists() for s in stages):
        raise InputError(f"{Path(stages[0].config.run_dir).parent} already holds a run of {stages[0].config.name}: "
                         "add --resume to go on, or give another --name or --run-dir")
    return run(stages, vgg, images, resume=args.resume, quiet=args.quiet, on_step=on_step)


def content_of_request(request: TrainRequest) -> list[np.ndarray]:
    """:func:`rtstyle.training.load_content`."""
    return content(from_request(request))


def train_request(request: TrainRequest, *, images: list[np.ndarray] | None = None,
                  on_step: Callable[[int, int], None] | None = None) -> list[Path]:
    """:func:`rtstyle.training.train_style`."""
    args = from_request(request)
    return install(args, content(args) if images is None else images, on_step=on_step)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    images = content(args)
    try:
        written = install(args, images)
    except KeyboardInterrupt:
        run_dir = run_folder(args)
        print(f"rtstyle: interrupted; the checkpoints in {run_dir} are kept: the same command with --resume "
              "goes on", file=sys.stderr)
        return 130
    names = [p.stem for p in written]
    print(f"installed {', '.join(names)} in {written[0].parent}: try rtstyle webcam --style {names[-1]}",
          file=sys.stderr)
    return 0
