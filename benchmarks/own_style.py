"""Your painting as a real-time style: how long ``rtstyle train`` takes here, and how good the result is.

``python benchmarks/own_style.py PAINTING... [--out /tmp/own-style] [--photos 3] [--steps 80]``

For each painting: ``rtstyle train`` with its default schedule (the full network from the nearest
shipped one, then the fast network distilled from it) on ../shared's photos, timed; then
``export.quality``'s score of the new full network (network loss / loss of a Gatys optimisation
of the same objective on held-out photos, the measure of docs/quality.md) and of the fast network
against the full one. Prints one line per painting and a Markdown table; writes a contact sheet.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHIPPED_RATIOS = {  # docs/quality.md, python -m export.quality --photos 3 --steps 80 --variants full
    "composition_vii": 1.88, "great_wave": 1.91, "shipwreck": 1.99, "starry_night": 1.86, "the_scream": 1.96,
    "udnie": 1.92, "woman_with_hat": 1.97}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paintings", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("/tmp/own-style"))
    p.add_argument("--photos", type=int, default=3, help="held-out photos for the quality score")
    p.add_argument("--steps", type=int, default=80, help="L-BFGS steps of the reference optimisation")
    p.add_argument("--sheet", type=Path, default=REPO / "docs" / "contact_sheet_own.jpg")
    p.add_argument("--train-args", default="",
                   help='more options for rtstyle train, e.g. "--steps 300 --fast-steps 250"')
    args = p.parse_args()
    models = args.out / "models"
    env = {**os.environ, "RTSTYLE_MODELS": f"{models}{os.pathsep}{REPO / 'models'}"}
    rows = []
    for painting in args.paintings:
        name = re.sub(r"[^a-z0-9]+", "_", painting.stem.lower()).strip("_")
        command = [sys.executable, "-m", "rtstyle", "train", str(painting), "--name", name,
                   "--content", str(SHARED / "data" / "content"),
                   "--vgg-weights", str(SHARED / "weights" / "vgg16-imagenet-features.pth"),
                   "--export-dir", str(models), "--run-dir", str(args.out / "runs" / name), "--quiet",
                   "--meta", f"painting={painting.stem.replace('_', ' ')}", *shlex.split(args.train_args)]
        started = time.time()
        subprocess.run(command, check=True, env=env)
        seconds = time.time() - started
        full_seconds = (models / f"{name}.onnx").stat().st_mtime - started
        rows.append((name, seconds, full_seconds, *score(models, name, args, env)))
        print(f"{name}: {seconds / 60:.1f} min ({full_seconds / 60:.1f} full + {(seconds - full_seconds) / 60:.1f} "
              f"fast), quality {rows[-1][3]:.2f} (shipped mean {mean_shipped():.2f}), started from {rows[-1][4]}, "
              f"fast/full Gram {rows[-1][5]:.2f} relu3_3 {rows[-1][6]:.2f}", flush=True)
    print()
    print("| painting | both networks | full | fast | quality (network / optimisation) | ÷ shipped mean "
          "| started from | fast/full Gram | fast/full relu3_3 |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for name, seconds, full, ratio, start, gram, content in rows:
        print(f"| {name} | {seconds / 60:.1f} min | {full / 60:.1f} min | {(seconds - full) / 60:.1f} min | "
              f"{ratio:.2f} | {ratio / mean_shipped():.2f} | {start} | {gram:.2f} | {content:.2f} |")
    subprocess.run([sys.executable, "-m", "export.contact_sheet", "--models", str(models), "--variant", "all",
                    "--out", str(args.sheet), "--photos", "4"], check=True, env=env, cwd=REPO)
    return 0


def score(models: Path, name: str, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, str, float, float]:
    os.environ.update(env)
    import json

    from export.quality import compare, compare_fast
    from rtstyle.models import StyleInfo

    full, fast = (StyleInfo.from_file(models / f"{name}{suffix}.onnx") for suffix in ("", "_fast"))
    ratio = compare(full, photos=args.photos, steps=args.steps).ratio
    fast_vs_full = compare_fast(fast, full, photos=args.photos)
    start = Path(json.loads(full.metadata["training"])["init_from"]).stem
    return ratio, start, fast_vs_full.ratio("gram"), fast_vs_full.ratio("relu3_3")


def mean_shipped() -> float:
    return sum(SHIPPED_RATIOS.values()) / len(SHIPPED_RATIOS)


if __name__ == "__main__":
    raise SystemExit(main())
