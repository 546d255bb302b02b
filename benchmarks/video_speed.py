"""`rtstyle video` end to end at the sizes phones record: frames per second, where the time goes, file size.

``python benchmarks/video_speed.py [--style starry_night_fast] [--sizes 1920x1080,3840x2160] [--runs 2]
[-- EXTRA rtstyle video OPTIONS]``

Big Buck Bunny's 5-second clip from ../shared (132 frames, 1280×720, 25 fps) enlarged to each size
and encoded once (x264 CRF 18), then painted by the command a user runs, ``rtstyle video IN OUT
--json`` (stabilizer on, the defaults), ``--runs`` times per size in turn. Prints each run's fps and
busy seconds per stage (decode, stylize, encode: the one near the run's length is what limits it)
and the output's size per frame. Options after ``--`` go to every run (``-- --threads 2`` to compare).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2

REPO = Path(__file__).resolve().parents[1]
BUNNY = REPO.parent / "shared" / "data" / "video" / "big_buck_bunny_720p_5s.mp4"


def enlarged(source: Path, size: tuple[int, int], target: Path) -> Path:
    """``source``'s frames resized to ``size`` (bicubic), H.264 CRF 18 at the source's rate."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        rate = inp.streams.video[0].average_rate
        stream = out.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for frame in inp.decode(video=0):
            picture = cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_CUBIC)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        out.mux(stream.encode(None))
    return target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="starry_night_fast")
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--clip", type=Path, default=BUNNY, help="the clip to enlarge (default: ../shared's Big Buck Bunny)")
    p.add_argument("extra", nargs="*", help="more `rtstyle video` options, after --")
    args = p.parse_args()
    if not args.clip.is_file():
        sys.exit(f"video_speed.py: no clip at {args.clip} (../shared beside the repository, or --clip)")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        clips = {size: enlarged(args.clip, size, Path(tmp) / f"in_{size[0]}x{size[1]}.mp4") for size in sizes}
        print("| size | run | fps | decode s | stylize s | encode s | KiB a frame |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for run in range(1, args.runs + 1):
            for size, clip in clips.items():
                out = Path(tmp) / "out.mp4"
                done = subprocess.run([sys.executable, "-m", "rtstyle", "video", str(clip), str(out), "--style",
                                       args.style, "--json", "--quiet", *args.extra],
                                      check=True, capture_output=True, text=True, cwd=REPO)
                report = json.loads(done.stdout)
                stages = report["stage_seconds"]
                print(f"| {size[0]}×{size[1]} | {run} | {report['fps']:.2f} | {stages['decode']:.2f} | "
                      f"{stages['stylize']:.2f} | {stages['encode']:.2f} | "
                      f"{out.stat().st_size / 1024 / report['frames']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
