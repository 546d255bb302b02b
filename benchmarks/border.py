"""A network trained against the border band, beside the one it would replace.

``python benchmarks/border.py SHIPPED.onnx CANDIDATE.onnx [--photos 8]``

For each network: the band along the borders with 0-40 mirrored pixels around the picture
(``python -m export.edge_pad``'s measure, levels). Then the Gram distance to the painting (VGG16
relu1_2…relu4_3, painting at 512 px) of the candidate over the shipped network's, each painted by
the engine with its own ``edge_pad`` (``Engine.paint``), on held-out photos at 640×360 (stroke
size 1), 320×180 (stroke size 2) and 128×128 (the training crop): above 1 the candidate has less
of the painting's style.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from scale import SHARED, Scorer, painting_of  # noqa: E402

from export.contact_sheet import DEFAULT_CONTENT, held_out_photos  # noqa: E402
from export.edge_pad import measure  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import StyleInfo  # noqa: E402
from rtstyle.strokes import shrink  # noqa: E402
from rtstyle.training.data import load_rgb  # noqa: E402

SIZES = ((360, 640), (180, 320), (128, 128))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shipped", type=Path)
    p.add_argument("candidate", type=Path)
    p.add_argument("--photos", type=int, default=8)
    args = p.parse_args()
    pictures = held_out_photos(Path(DEFAULT_CONTENT), args.photos)
    at_working_size = np.concatenate([shrink(f[None], (360, 640)) for f in pictures])
    infos = [StyleInfo.from_file(path) for path in (args.shipped, args.candidate)]
    for path, info in zip((args.shipped, args.candidate), infos, strict=True):
        bands = measure(path, at_working_size)
        print(f"{path}: edge_pad {info.edge_pad}; band " + " ".join(f"M{m}:{b:.1f}" for m, b in bands.items()))
    scorer = Scorer(SHARED / "weights" / "vgg16-imagenet-features.pth")
    target = scorer.grams(load_rgb(painting_of(infos[0].base), long_side=512)[None])
    engines = [Engine([info], EngineConfig(device="cpu")) for info in infos]
    for size in SIZES:
        ratios = []
        for photo in pictures:
            picture = cv2.resize(photo, size[::-1], interpolation=cv2.INTER_AREA)[None]
            shipped, candidate = (scorer.style(np.ascontiguousarray(e.paint(picture)[0][..., ::-1])[None], target)
                                  for e in engines)
            ratios.append(candidate / shipped)
        print(f"{size[1]}x{size[0]}: Gram candidate / shipped, median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    main()
