"""`rtstyle batch --cluster local` against sequential `rtstyle video` over the same folder.

    python benchmarks/batch.py [--repeats 2] [--workers 2] [--style starry_night_fast] [--scale 0.5]

The folder is made from ../shared (big_buck_bunny_720p_5s.mp4 twice, vtest.avi: 1059 frames, one
video long enough to be cut in chunks); outputs go to a temporary folder. The modes are run in
turn, repeat after repeat, so a change in the machine's load falls on all of them alike; the load
average is printed before and after. Each run is a fresh process, as a user would start it:

* ``video``: ``rtstyle video`` once per file (a process and an engine per video);
* ``embedded``: ``rtstyle batch`` without a cluster (one process, one engine, one after another);
* ``ray``: ``rtstyle batch --cluster local --workers N`` (starts Ray, N actors, chunks, joins).

Also timed: Ray's own start and stop (``ray.init`` + ``ray.shutdown``) with nothing to do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtstyle.batch.plan import header_frames

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
RTSTYLE = [sys.executable, "-m", "rtstyle"]


def make_folder(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    bunny, avi = SHARED / "big_buck_bunny_720p_5s.mp4", SHARED / "vtest.avi"
    copies = [(bunny, "bunny_a.mp4"), (bunny, "bunny_b.mp4"), (avi, "vtest.avi")]
    for source, name in copies:
        shutil.copyfile(source, folder / name)
    return sorted(folder.iterdir())


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - began


def ray_start_stop() -> float:
    code = ("import logging, ray; ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR); "
            "ray.shutdown()")
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-seconds", default="20")
    parser.add_argument("--style", default="starry_night_fast")
    parser.add_argument("--scale", default="0.5")
    args = parser.parse_args()
    common = ["--style", args.style, "--scale", args.scale, "--quiet"]
    with tempfile.TemporaryDirectory(prefix="rtstyle-batch-bench-") as tmp:
        inputs = make_folder(Path(tmp) / "in")
        out = Path(tmp) / "out"

        modes = {
            "video": None,
            "embedded": RTSTYLE + ["batch", str(inputs[0].parent), "--out", str(out), *common],
            "ray": RTSTYLE + ["batch", str(inputs[0].parent), "--out", str(out), *common, "--cluster", "local",
                              "--workers", str(args.workers), "--chunk-seconds", args.chunk_seconds],
        }
        frames = sum(header_frames(p) for p in inputs)
        print(f"{len(inputs)} videos, {frames} frames; {os.cpu_count()} CPUs; load average before: {load()}")
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        ray_alone = []
        for _ in range(args.repeats):
            for mode, command in modes.items():
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                if command is None:
                    times[mode].append(sum(run(RTSTYLE + ["video", str(p), str(out / f"{p.stem}.mp4"), *common])
                                           for p in inputs))
                else:
                    times[mode].append(run(command))
            ray_alone.append(ray_start_stop())
        print(f"load average after: {load()}")
        print(f"{'mode':<10} {'runs (s)':<24} {'median s':>9} {'fps':>7}")
        for mode, runs in times.items():
            median = statistics.median(runs)
            print(f"{mode:<10} {', '.join(f'{t:.1f}' for t in runs):<24} {median:>9.1f} {frames / median:>7.1f}")
        overhead = statistics.median(times["ray"]) - statistics.median(times["embedded"])
        print(f"ray - embedded: {overhead:+.1f} s; Ray start + stop alone: "
              f"{', '.join(f'{t:.1f}' for t in ray_alone)} s")


if __name__ == "__main__":
    main()
