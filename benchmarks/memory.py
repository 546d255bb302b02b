"""Resident memory under the documented limits: the studio, ``rtstyle image`` and ``rtstyle video`` at 4K.

``python benchmarks/memory.py [--variant fast|full] [--skip-studio] [--skip-image] [--skip-video]``

* Studio: ``rtstyle serve`` in a subprocess (the fast networks: what it serves on a CPU); one 37-megapixel photo
  (7400×5000, under the 40 MP limit) posted to ``/api/stylize`` in each of the seven styles, then
  fifty photos of random sizes (200–6000 px a side) in random styles. The server's resident memory
  (VmRSS) is printed after the first big photo, after all seven, and after the fifty: the target is
  under 2 GiB, with the end within 10 % of the first big photo's.
* ``rtstyle image`` on a folder of eight large photos (24–37 MP): the command's peak memory, with
  starry_night's ``--variant`` network (fast by default; ``full`` for the full networks' bound).
* ``rtstyle video`` on a 4K clip (3840×2160, 30 frames): the command's peak memory.

Peak memory of a command is its ``ru_maxrss`` (the child's), read after it ends.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.serve_load import rss_mb, studio_server  # noqa: E402
from rtstyle.models import installed_styles, pick_variant  # noqa: E402
from rtstyle.synthetic import scene, write_clip  # noqa: E402

BIG = (7400, 5000)  # 37 MP


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG with edges and texture at every scale (a synthetic scene with noise)."""
    rng = np.random.default_rng(seed)
    small = scene(seed, 640, 360)
    picture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-12, 13, (height, width, 1), dtype=np.int16)
    picture = np.clip(picture.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def studio(args: argparse.Namespace) -> None:
    styles = [s.base for s in pick_variant(installed_styles(), "fast")]
    with studio_server() as (server, base):
        url = f"{base}/api/stylize"
        client = httpx.Client(timeout=600)
        print(f"studio: started, {rss_mb(server.pid):.0f} MB")
        big = photo(*BIG, seed=1)

        def post(body: bytes, style: str) -> None:
            r = client.post(url, files={"image": ("p.jpg", body)}, data={"style": style})
            r.raise_for_status()

        began = time.perf_counter()
        post(big, styles[0])
        first = rss_mb(server.pid)
        print(f"studio: after a 37 MP photo in {styles[0]}: {first:.0f} MB ({time.perf_counter() - began:.1f} s)")
        for style in styles[1:]:
            post(big, style)
        print(f"studio: after it in all {len(styles)} styles: {rss_mb(server.pid):.0f} MB")
        rng = np.random.default_rng(0)
        peak = 0.0
        for i in range(args.photos):
            w, h = (int(x) for x in rng.integers(200, 6000, 2))
            if w * h > 40_000_000:
                h = 40_000_000 // w
            post(photo(w, h, seed=10 + i), styles[i % len(styles)])
            peak = max(peak, rss_mb(server.pid))
        end = rss_mb(server.pid)
        print(f"studio: after {args.photos} photos of random sizes: {end:.0f} MB (highest seen {peak:.0f} MB); "
              f"{100 * (end / first - 1):+.1f} % against the first big photo")


def peak_of(command: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of a command run to its end."""
    began = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - began, max(before, after) / 1024


def style_of(args: argparse.Namespace) -> str:
    return "starry_night_fast" if args.variant == "fast" else "starry_night"


def image(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        sizes = [(6000, 4000), (7400, 5000), (4000, 6000), (5000, 5000), (7000, 4500), (6000, 6000), (4500, 7000),
                 (7400, 5000)]
        for i, (w, h) in enumerate(sizes):
            (folder / f"p{i}.jpg").write_bytes(photo(w, h, seed=i))
        seconds, peak = peak_of([sys.executable, "-m", "rtstyle", "image", str(folder), str(Path(tmp) / "out"),
                                 "--style", style_of(args), "--quiet"])
        print(f"rtstyle image, {len(sizes)} photos of 24-37 MP: peak {peak:.0f} MB, {seconds:.1f} s")


def video(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "4k.mp4", width=3840, height=2160, fps=30, frames=30)
        seconds, peak = peak_of([sys.executable, "-m", "rtstyle", "video", str(clip), str(Path(tmp) / "out.mp4"),
                                 "--style", style_of(args), "--quiet"])
        print(f"rtstyle video, 4K, 30 frames: peak {peak:.0f} MB, {seconds:.1f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=50)
    p.add_argument("--variant", choices=("fast", "full"), default="fast",
                   help="the network of rtstyle image and video (the studio serves the fast ones on a CPU)")
    p.add_argument("--skip-studio", action="store_true")
    p.add_argument("--skip-image", action="store_true")
    p.add_argument("--skip-video", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("RTSTYLE_TOKEN", "")
    if not args.skip_studio:
        studio(args)
    if not args.skip_image:
        image(args)
    if not args.skip_video:
        video(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
