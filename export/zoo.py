"""The shipped styles: one recipe per painting in ``../shared/data/styles``.

``python -m export.zoo --data ../shared`` trains every style that is not finished yet and
exports it to ``models/``. It can be stopped at any time and run again: each style resumes
from its checkpoint. The first style trains from scratch; the others start from its weights,
which on a CPU gives a clean style in a fraction of the steps (see docs/training.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from export.train import TrainConfig, train

# name, file, painting, artist, year
PAINTINGS = [
    ("starry_night", "starry_night.jpg", "The Starry Night", "Vincent van Gogh", "1889"),
    ("the_scream", "the_scream.jpg", "The Scream", "Edvard Munch", "1893"),
    ("great_wave", "great_wave.jpg", "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831"),
    ("composition_vii", "composition_vii.jpg", "Composition VII", "Wassily Kandinsky", "1913"),
    ("udnie", "udnie.jpg", "Udnie", "Francis Picabia", "1913"),
    ("shipwreck", "shipwreck_of_the_minotaur.jpg", "The Shipwreck of the Minotaur", "J. M. W. Turner", "c. 1810"),
    ("woman_with_hat", "woman_with_hat.jpg", "Woman with a Hat", "Henri Matisse", "1905"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.zoo", description=__doc__)
    p.add_argument("--data", default="../shared", help="folder with data/ and weights/")
    p.add_argument("--runs", default="runs", help="checkpoints and samples")
    p.add_argument("--models", default="models", help="where the ONNX files go")
    p.add_argument("--first-steps", type=int, default=2000, help="steps for the first style")
    p.add_argument("--steps", type=int, default=800, help="steps for each later style")
    p.add_argument("--only", nargs="*", help="train only these style names")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    data = Path(args.data)
    first = Path(args.runs) / PAINTINGS[0][0] / "checkpoint.pt"
    for i, (name, file, painting, artist, year) in enumerate(PAINTINGS):
        if args.only and name not in args.only:
            continue
        config = TrainConfig(
            style=str(data / "data" / "styles" / file), content_dir=str(data / "data" / "content"),
            vgg_weights=str(data / "weights" / "vgg16-imagenet-features.pth"), name=name,
            run_dir=str(Path(args.runs) / name), export_dir=args.models, threads=args.threads,
            steps=args.first_steps if i == 0 else args.steps,
            init_from=None if i == 0 else str(first),
            metadata=(("painting", painting), ("artist", artist), ("year", year),
                      ("license", "public domain (painting); model weights: same license as rtstyle")),
        )
        train(config, resume=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
