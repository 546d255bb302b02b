"""How close each shipped network comes to the optimum of its own training loss.

``python -m export.quality [--models models] [--photos 6] [--steps 200] [--out docs]`` scores
every model in ``--models`` on held-out photos (every ``holdout_every``-th photo of its training
folder, never trained on) at its training resolution, beside a Gatys optimisation of the very
same loss started from the same photos, and writes ``docs/quality.md``. The network passes when
its total loss is at most :data:`TARGET_RATIO` times the optimisation's.

The settings of each model come from its ``training`` metadata (painting, style size, crop,
content layer, weights), so the report measures what the model was trained for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rtstyle.engine import Engine, EngineConfig
from rtstyle.errors import InputError, RtstyleError
from rtstyle.models import StyleInfo
from rtstyle.training.data import list_images, load_rgb, split_holdout, to_tensor
from rtstyle.training.losses import content_distance, gram_matrix, style_distance
from rtstyle.training.optimize import OptimizeConfig, load_vgg, optimize
from rtstyle.training.vgg import VGGFeatures

TARGET_RATIO = 2.0
REPORT_LAYER = "relu3_3"  # the content measure, whatever layer a model was trained with
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Score:
    """Losses of one picture: the weighted training terms and two unweighted distances."""

    content: float  # content_weight × content distance at the training layer
    style: float  # style_weight × Gram distance
    gram: float  # unweighted Gram style distance to the painting
    relu3_3: float  # unweighted content distance to the photo at relu3_3

    @property
    def total(self) -> float:
        return self.content + self.style

    @staticmethod
    def mean(scores: list[Score]) -> Score:
        fields = ("content", "style", "gram", "relu3_3")
        return Score(*(float(np.mean([getattr(s, k) for s in scores])) for k in fields))


@dataclass(frozen=True)
class Comparison:
    """One style: the network's and the optimisation's scores, photo by photo."""

    style: StyleInfo
    network: list[Score]
    optimized: list[Score]
    steps: int
    crop: int
    style_size: int

    @property
    def ratio(self) -> float:
        return Score.mean(self.network).total / Score.mean(self.optimized).total

    @property
    def photo_ratios(self) -> list[float]:
        return [n.total / o.total for n, o in zip(self.network, self.optimized, strict=True)]


@dataclass(frozen=True, kw_only=True)
class Training:
    """What a model's ``training`` metadata says about its loss (see rtstyle/training/train.py)."""

    style: Path
    content_dir: Path
    vgg_weights: str | None
    crop: int
    style_size: int
    content_layer: str
    content_weight: float
    style_weight: float
    holdout_every: int

    @classmethod
    def of(cls, style: StyleInfo) -> Training:
        text = style.metadata.get("training")
        if not text:
            raise InputError(f"{style.path}: no 'training' metadata, so its loss is unknown")
        t = json.loads(text)
        return cls(style=_existing(t["style"]), content_dir=_existing(_photo_folder(t)),
                   vgg_weights=t.get("vgg_weights"), crop=int(t["crop"]), style_size=int(t["style_size"]),
                   content_layer=t["content_layer"], content_weight=float(t["content_weight"]),
                   style_weight=float(t["style_weight"]), holdout_every=int(t["holdout_every"]))

    def config(self, steps: int) -> OptimizeConfig:
        weights = self.vgg_weights if self.vgg_weights and Path(self.vgg_weights).is_file() else None
        return OptimizeConfig(network="vgg16", vgg_weights=weights, steps=steps, content_layer=self.content_layer,
                              content_weight=self.content_weight, style_weight=self.style_weight)


def _photo_folder(training: dict[str, object]) -> str:
    """The folder of photos a model was trained on, where held-out photos come from."""
    sources = training.get("content") or [training.get("content_dir")]  # content_dir: models before user training
    folders = [str(s) for s in sources if s and Path(str(s)).suffix == ""]  # type: ignore[union-attr]
    if not folders:
        raise InputError("the model was trained on videos only: no held-out photos to score it on")
    return folders[0]


def _existing(path: str) -> Path:
    """A path from the metadata, relative to the working folder or else to the repository."""
    for candidate in (Path(path), REPO / path):
        if candidate.exists():
            return candidate
    raise InputError(f"not found: {path} (named in the model's training metadata)")


def held_out_photos(training: Training, count: int) -> np.ndarray:
    """uint8 RGB count×crop×crop×3: held-out photos, short side resized to the crop, centre square."""
    _, held = split_holdout(list_images(training.content_dir), training.holdout_every)
    return np.stack([_centre_square(load_rgb(f, short_side=training.crop)) for f in held[:count]])


def _centre_square(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return rgb[y : y + side, x : x + side]


def score(vgg: VGGFeatures, pictures: np.ndarray, photos: np.ndarray, painting: np.ndarray,
          config: OptimizeConfig) -> list[Score]:
    """One Score per picture (uint8 RGB N×H×W×3) against its photo and the painting (uint8 RGB)."""
    with torch.no_grad():
        fp, fc, fs = vgg(to_tensor(pictures)), vgg(to_tensor(photos)), vgg(to_tensor(painting))
        grams = [gram_matrix(getattr(fs, n)) for n in config.style_layers]
        scores = []
        for i in range(len(pictures)):
            picture, photo = _one(fp, i), _one(fc, i)
            gram = style_distance(tuple(picture[n] for n in config.style_layers), grams).item()
            content = content_distance(picture[config.content_layer], photo[config.content_layer]).item()
            relu3_3 = content_distance(picture[REPORT_LAYER], photo[REPORT_LAYER]).item()
            scores.append(Score(config.content_weight * content, config.style_weight * gram, gram, relu3_3))
    return scores


def _one(features: tuple[torch.Tensor, ...], i: int) -> dict[str, torch.Tensor]:
    """The activations of batch item ``i``, by layer name, each 1×C×H×W."""
    return {name: value[i : i + 1] for name, value in features._asdict().items()}  # type: ignore[attr-defined]


def compare(style: StyleInfo, *, photos: int, steps: int, vgg_weights: str | None = None,
            vgg: VGGFeatures | None = None, progress: bool = False) -> Comparison:
    """Score ``style``'s network and an optimisation of its loss on its held-out photos."""
    training = Training.of(style)
    config = training.config(steps)
    if vgg_weights:
        config = replace(config, vgg_weights=vgg_weights)
    vgg = vgg or load_vgg(config, extra_layers=(REPORT_LAYER,))
    pictures = held_out_photos(training, photos)
    painting = load_rgb(training.style, long_side=training.style_size)
    # The network at its training resolution (paint: no working size), as it was trained to be scored.
    stylized = Engine([style], EngineConfig(device="cpu")).paint(np.ascontiguousarray(pictures[..., ::-1]))[..., ::-1]
    optimized = optimize(pictures, painting, config=config, vgg=vgg, progress=progress).image
    return Comparison(style=style, network=score(vgg, stylized, pictures, painting, config),
                      optimized=score(vgg, optimized, pictures, painting, config),
                      steps=steps, crop=training.crop, style_size=training.style_size)


FAST_TOLERANCE = 0.15  # the fast network's distances may exceed the full one's by this much


@dataclass(frozen=True)
class FastComparison:
    """A fast network and the full network of the same painting, scored with the full one's loss."""

    fast: StyleInfo
    full: StyleInfo
    fast_scores: list[Score]
    full_scores: list[Score]

    def ratio(self, field: str) -> float:
        return getattr(Score.mean(self.fast_scores), field) / getattr(Score.mean(self.full_scores), field)

    @property
    def meets(self) -> bool:
        return all(self.ratio(f) <= 1 + FAST_TOLERANCE for f in ("gram", "relu3_3"))


def compare_fast(fast: StyleInfo, full: StyleInfo, *, photos: int, vgg: VGGFeatures | None = None) -> FastComparison:
    """Score both networks of one painting on its held-out photos with the full network's loss."""
    training = Training.of(full)
    config = training.config(1)  # no optimisation runs: only the loss settings are used
    vgg = vgg or load_vgg(config, extra_layers=(REPORT_LAYER,))
    pictures = held_out_photos(training, photos)
    painting = load_rgb(training.style, long_side=training.style_size)
    bgr = np.ascontiguousarray(pictures[..., ::-1])
    scores = [score(vgg, Engine([s], EngineConfig(device="cpu")).paint(bgr)[..., ::-1], pictures, painting, config)
              for s in (fast, full)]
    return FastComparison(fast, full, *scores)


def render_fast(comparisons: list[FastComparison]) -> list[str]:
    lines = ["", "## Fast networks against the full network of the same painting", "",
             "Same held-out photos, scored with the full network's loss. Target: the fast network's Gram "
             f"(style) and relu3_3 (content) distances at most {FAST_TOLERANCE:.0%} above the full one's.", "",
             "| fast network | Gram distance fast / full | relu3_3 distance fast / full | within 15% |",
             "|---|---:|---:|---|"]
    lines += [f"| {c.fast.name} | {c.ratio('gram'):.2f} | {c.ratio('relu3_3'):.2f} | {'yes' if c.meets else 'no'} |"
              for c in comparisons]
    return lines


def render(comparisons: list[Comparison], skipped: list[tuple[str, str]], *, photos: int, command: str) -> str:
    """docs/quality.md: a summary table, then one table per style."""
    lines = ["# Quality: each network against an optimisation of its own loss", "",
             f"Written by `{command}` on {time.strftime('%Y-%m-%d')}. For each style, {photos} held-out photos "
             "(every 50th photo of its training folder, never trained on), resized so that the short side is the "
             "training crop and cropped to the centre square, are stylized by the shipped network (ONNX, uint8 "
             "out) and by a Gatys optimisation of the same loss started from the photo (L-BFGS, the steps below). "
             "Both pictures are scored as uint8 images with the training loss (VGG16; content weight × mean "
             "squared difference at the content layer + style weight × Σ mean squared Gram difference over "
             "relu1_2…relu4_3, Gram matrices normalised by C·H·W, painting at the training style size). "
             f"Target: network total ≤ {TARGET_RATIO:g} × optimisation total. Numbers are means over the photos.",
             "", "| style | network total | optimisation total | ratio | target ≤ 2 |", "|---|---:|---:|---:|---|"]
    for c in comparisons:
        lines.append(f"| {c.style.name} | {Score.mean(c.network).total:.4g} | {Score.mean(c.optimized).total:.4g} "
                     f"| {c.ratio:.2f} | {_verdict(c.ratio)} |")
    lines += [f"| {name} | not scored: {why} | | | |" for name, why in skipped]
    for c in comparisons:
        lines += ["", *_style_section(c)]
    return "\n".join(lines) + "\n"


def _style_section(c: Comparison) -> list[str]:
    net, opt = Score.mean(c.network), Score.mean(c.optimized)
    ratios = c.photo_ratios
    rows = [("network", net), ("optimisation", opt)]
    return [f"## {c.style.name}: {c.style.title}", "",
            f"{len(c.network)} photos at {c.crop}×{c.crop}, painting at {c.style_size} px (long side), "
            f"optimisation: {c.steps} L-BFGS steps.", "",
            "| | content (weighted) | style (weighted) | total | Gram distance | relu3_3 content distance |",
            "|---|---:|---:|---:|---:|---:|",
            *(f"| {name} | {s.content:.4g} | {s.style:.4g} | {s.total:.4g} | {s.gram:.4g} | {s.relu3_3:.4g} |"
              for name, s in rows),
            f"| network / optimisation | {net.content / opt.content:.2f} | {net.style / opt.style:.2f} "
            f"| **{c.ratio:.2f}** | {net.gram / opt.gram:.2f} | {net.relu3_3 / opt.relu3_3:.2f} |",
            "", f"Ratio of totals {c.ratio:.2f}: {_verdict(c.ratio)} (photo by photo: "
            f"{min(ratios):.2f}–{max(ratios):.2f})."]


def _verdict(ratio: float) -> str:
    return "meets the target" if ratio <= TARGET_RATIO else "misses the target"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="models", help="folder of .onnx styles (default %(default)s)")
    p.add_argument("--photos", type=int, default=6, help="held-out photos per style (default %(default)s)")
    p.add_argument("--steps", type=int, help="L-BFGS steps of the optimisation (default 200, 40 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer optimisation steps: a smoke run, not a report")
    p.add_argument("--vgg-weights", help="VGG16 state dict (default: the one named in the metadata, else ../shared)")
    p.add_argument("--out", default="docs", help="folder for quality.md (default %(default)s)")
    p.add_argument("--variants", choices=("full", "fast", "both"), default="both",
                   help="full: against the optimisation (quality.md); fast: against the full network "
                   "(quality_fast.md)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        write_report(args, " ".join(["python -m export.quality", *(argv if argv is not None else sys.argv[1:])]))
    except RtstyleError as exc:
        print(f"rtstyle: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def write_report(args: argparse.Namespace, command: str) -> list[Path]:
    """docs/quality.md (full networks against the optimisation) and docs/quality_fast.md (fast
    networks against their full network), as ``--variants`` asks."""
    styles = [StyleInfo.from_file(f) for f in sorted(Path(args.models).glob("*.onnx"))]
    full = {s.base: s for s in styles if s.variant != "fast"}
    fast = [s for s in styles if s.variant == "fast" and s.base in full]
    if not full:
        raise InputError(f"no .onnx models in {args.models}")
    if args.photos < 1:
        raise InputError(f"--photos must be at least 1, not {args.photos}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if args.variants in ("full", "both"):
        written.append(out / "quality.md")
        written[-1].write_text(_full_report(args, list(full.values()), command))
    if args.variants in ("fast", "both") and fast:
        comparisons = [compare_fast(s, full[s.base], photos=args.photos) for s in fast]
        for c in comparisons:
            _say(args, f"{c.fast.name}: Gram {c.ratio('gram'):.2f}×, relu3_3 {c.ratio('relu3_3'):.2f}× the full one")
        written.append(out / "quality_fast.md")
        written[-1].write_text("\n".join(["# Quality of the fast networks", "", f"Written by `{command}` on "
                                           f"{time.strftime('%Y-%m-%d')}, {args.photos} held-out photos per style.",
                                           *render_fast(comparisons)]) + "\n")
    return written


def _full_report(args: argparse.Namespace, styles: list[StyleInfo], command: str) -> str:
    steps = args.steps or (40 if args.quick else 200)
    comparisons, skipped = [], []
    for style in styles:
        try:
            comparison = compare(style, photos=args.photos, steps=steps, vgg_weights=args.vgg_weights,
                                 progress=not args.quiet)
        except InputError as exc:  # a model without training metadata, or whose painting is gone
            skipped.append((style.name, str(exc)))
            _say(args, f"{style.name}: not scored: {exc}")
            continue
        comparisons.append(comparison)
        _say(args, f"{style.name}: network / optimisation = {comparison.ratio:.2f}")
    if not comparisons:
        raise InputError("no model could be scored: " + "; ".join(f"{n}: {why}" for n, why in skipped))
    return render(comparisons, skipped, photos=args.photos, command=command)


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
