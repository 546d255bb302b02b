"""One look at every size: style and content of pictures painted at 640, 1080p and 4K, shown at 640.

``python benchmarks/scale.py [--styles starry_night_fast ...] [--photos 8] [--native]``

Held-out photos (../shared's training folder, every 50th) are resized to 640, 1920 and 3840
pixels wide and painted through ``Engine.stylize`` at the default stroke size. Each result is
shrunk to the 640 one's size and scored with VGG16 (relu1_2…relu4_3 Gram distance to the
painting at 512 px; relu3_3 content distance to the photo at 640), relative to the 640 result's
own scores: 1.0 is the same look. ``--native`` also scores the old way, every picture painted at
its own size (the network's strokes a fixed number of pixels). Then the speed of
``Engine.stylize`` at 640×360, 1920×1080 and 3840×2160 (median of ``--repeat`` calls, after a
warm-up) and the process's peak resident memory after each size. The photos are 288-px
training photos enlarged, so their 1080p and 4K versions carry no finer detail than that.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from export.contact_sheet import DEFAULT_CONTENT, held_out_photos  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import find_style  # noqa: E402
from rtstyle.training.data import load_rgb, to_tensor  # noqa: E402
from rtstyle.training.losses import content_distance, gram_matrix  # noqa: E402
from rtstyle.training.vgg import VGGFeatures  # noqa: E402

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
WIDTHS = (640, 1920, 3840)
SPEED_SIZES = ((640, 360), (1920, 1080), (3840, 2160))
SHARED = REPO.parent / "shared"
PAINTINGS = SHARED / "data" / "styles"


def painting_of(style: str) -> Path:
    base = find_style(style).base
    name = {"shipwreck": "shipwreck_of_the_minotaur"}.get(base, base)
    return PAINTINGS / f"{name}.jpg"


class Scorer:
    def __init__(self, weights: Path):
        self.vgg = VGGFeatures("vgg16", STYLE_LAYERS, weights)

    def grams(self, rgb: np.ndarray) -> list[torch.Tensor]:
        with torch.no_grad():
            return [gram_matrix(f) for f in self.vgg(to_tensor(rgb))]

    def style(self, rgb: np.ndarray, target: list[torch.Tensor]) -> float:
        return float(sum(((g - t) ** 2).mean() for g, t in zip(self.grams(rgb), target, strict=True)))

    def content(self, rgb: np.ndarray, photo: np.ndarray) -> float:
        with torch.no_grad():
            return float(content_distance(self.vgg(to_tensor(rgb)).relu3_3, self.vgg(to_tensor(photo)).relu3_3))


def native(engine: Engine, style: str, bgr: np.ndarray) -> np.ndarray:
    """Painted at its own size: the network's strokes a fixed number of pixels, as before stroke sizes."""
    return engine.paint(bgr[None], style)[0]


def look(args: argparse.Namespace, engine: Engine, scorer: Scorer) -> None:
    photos = held_out_photos(Path(args.content_dir), args.photos)
    print("| style | way | " + " | ".join(f"style {w} / 640" for w in WIDTHS[1:]) + " | "
          + " | ".join(f"content {w} / 640" for w in WIDTHS[1:]) + " |")
    print("|---|---|" + "---|" * (2 * len(WIDTHS) - 2))
    for style in args.styles:
        target = scorer.grams(load_rgb(painting_of(style), long_side=512)[None])
        ways = {"strokes (default)": lambda bgr, s=style: engine.stylize(bgr, s)}
        if args.native:
            ways["own size (before)"] = lambda bgr, s=style: native(engine, s, bgr)
        for way, paint in ways.items():
            ratios: dict[str, list[float]] = {}
            for photo in photos:
                sized = {w: cv2.resize(photo, (w, round(w * photo.shape[0] / photo.shape[1])),
                                       interpolation=cv2.INTER_AREA if w < photo.shape[1] else cv2.INTER_CUBIC)
                         for w in WIDTHS}
                small = sized[WIDTHS[0]]
                shown = {w: cv2.resize(paint(sized[w]), small.shape[1::-1], interpolation=cv2.INTER_AREA)
                         for w in WIDTHS}
                rgb = {w: np.ascontiguousarray(s[..., ::-1])[None] for w, s in shown.items()}
                photo_rgb = np.ascontiguousarray(small[..., ::-1])[None]
                base_style = scorer.style(rgb[WIDTHS[0]], target)
                base_content = scorer.content(rgb[WIDTHS[0]], photo_rgb)
                for w in WIDTHS[1:]:
                    ratios.setdefault(f"s{w}", []).append(scorer.style(rgb[w], target) / base_style)
                    ratios.setdefault(f"c{w}", []).append(scorer.content(rgb[w], photo_rgb) / base_content)
            cells = [f"{statistics.median(ratios[f'{k}{w}']):.2f} (max {max(ratios[f'{k}{w}']):.2f})"
                     for k in "sc" for w in WIDTHS[1:]]
            print(f"| {style} | {way} | " + " | ".join(cells) + " |", flush=True)


def speed(args: argparse.Namespace, engine: Engine) -> None:
    from rtstyle.synthetic import scene

    style = args.styles[0]
    print(f"\nEngine.stylize, {style}, stroke size {engine.stroke_size(style):g}, batch 1:")
    for w, h in SPEED_SIZES:
        frame = scene(1, w, h)
        engine.stylize(frame, style)
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            engine.stylize(frame, style)
            times.append(time.perf_counter() - began)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ms = statistics.median(times) * 1000
        line = f"  {w}x{h}: {ms:6.1f} ms  {1000 / ms:5.1f} fps   peak RSS so far {peak:.0f} MiB"
        if args.native:  # the frame painted at its own size, as before stroke sizes (after the above: its memory)
            native(engine, style, frame)
            began = time.perf_counter()
            for _ in range(max(1, args.repeat // 5)):
                native(engine, style, frame)
            old = (time.perf_counter() - began) / max(1, args.repeat // 5) * 1000
            line += f";  at its own size {old:7.1f} ms  {1000 / old:5.1f} fps"
        print(line, flush=True)


def sheet(args: argparse.Namespace, engine: Engine) -> None:
    """Rows: pictures; columns: painted at 640, at 1080p and at 4K (shown at 640), at 4K the old way
    (its own size, shown at 640), and a 640x360 crop of the 4K result at full size."""
    import av

    from rtstyle.synthetic import scene

    with av.open(str(SHARED / "data" / "video" / "big_buck_bunny_720p_5s.mp4")) as container:
        bunny = next(f for i, f in enumerate(container.decode(video=0)) if i == 60).to_ndarray(format="bgr24")
    text = scene(7, 3840, 2160)
    for row in range(20):
        cv2.putText(text, "One look at every size 0123456789", (80, 160 + 100 * row), cv2.FONT_HERSHEY_SIMPLEX,
                    2.0, (20, 20, 20), 3, cv2.LINE_AA)
    photo = held_out_photos(Path(args.content_dir), 2)[1]
    rows = []
    for style, picture in zip(args.styles * 3, (bunny, text, photo), strict=False):
        sizes = {w: cv2.resize(picture, (w, w * 9 // 16), interpolation=cv2.INTER_AREA if w < picture.shape[1]
                               else cv2.INTER_CUBIC) for w in WIDTHS}
        shown = [cv2.resize(engine.stylize(sizes[w], style), (640, 360), interpolation=cv2.INTER_AREA) for w in WIDTHS]
        old = cv2.resize(engine.paint(sizes[3840][None], style)[0], (640, 360), interpolation=cv2.INTER_AREA)
        crop = engine.stylize(sizes[3840], style)[900:1260, 1600:2240]
        rows.append(np.hstack([*shown, old, crop]))
    cells = ["640", "1080p shown at 640", "4K shown at 640", "4K, own size (before)", "4K, 640x360 crop"]
    head = np.full((40, rows[0].shape[1], 3), 255, np.uint8)
    for i, label in enumerate(cells):
        cv2.putText(head, label, (10 + 640 * i, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.imwrite(str(args.sheet), np.vstack([head, *rows]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.sheet}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", nargs="+", default=["starry_night_fast"])
    p.add_argument("--photos", type=int, default=8)
    p.add_argument("--content-dir", default=str(DEFAULT_CONTENT))
    p.add_argument("--vgg-weights", type=Path, default=SHARED / "weights" / "vgg16-imagenet-features.pth")
    p.add_argument("--native", action="store_true", help="also score pictures painted at their own size")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--skip-look", action="store_true", help="speed and memory only")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--sheet", type=Path, help="also write a contact sheet (JPEG) of the sizes side by side")
    args = p.parse_args()
    torch.set_num_threads(max(1, args.threads or torch.get_num_threads()))
    engine = Engine(args.styles, EngineConfig(device="cpu", threads=args.threads))
    if not args.skip_look:
        look(args, engine, Scorer(args.vgg_weights))
    if args.sheet:
        sheet(args, engine)
    speed(args, engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
