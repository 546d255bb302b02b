"""``rtstyle batch INPUT... --out DIR``: its own options, and the table it ends with."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rtstyle.batch.plan import PaintSettings, find_videos
from rtstyle.batch.run import ClusterSettings, VideoResult, run_batch
from rtstyle.engine import EngineConfig, codec_threads
from rtstyle.errors import InputError
from rtstyle.models import default_style, find_style
from rtstyle.temporal import StabilizerConfig


def add_batch_options(p: argparse.ArgumentParser) -> None:
    """The inputs, the output folder and the cluster; the painting options are `rtstyle video`'s."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, and folders of videos")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder: each video keeps its name (.mp4 for containers other than mp4/mov/mkv)")
    g = p.add_argument_group("cluster (pip install 'rtstyle[ray]')")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="local (start Ray here), auto or ray://host:port (join a cluster); "
                        "default: no cluster, one video after another in this process")
    g.add_argument("--workers", type=int, metavar="N", help="Ray workers, one engine each (default: as many as fit)")
    g.add_argument("--gpus-per-worker", type=float, metavar="F",
                   help="GPUs per worker, a fraction shares one (default: 1 where the cluster has GPUs)")
    g.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="N", help="CPU cores per worker (default 1)")
    g.add_argument("--chunk-seconds", type=float, default=20.0, metavar="S",
                   help="length of the pieces a video is cut into at keyframes (default 20)")


def cmd_batch(args: argparse.Namespace, *, progress: bool) -> int:
    _check(args)
    jobs = find_videos(args.inputs, args.out)
    paint = PaintSettings(
        styles=(find_style(args.style) if args.style else default_style(),),
        engine=EngineConfig(device=args.device, precision=args.precision, stroke=args.stroke_size,
                            # decoding and encoding share the cores (a cluster's workers have their own)
                            threads=args.threads or (0 if args.cluster else codec_threads()), spin=False),
        batch_size=args.batch, preserve_colors=args.preserve_colors, encoder=args.encoder,
        stabilize=StabilizerConfig(strength=args.stabilize_strength) if args.stabilize else None)
    cluster = None
    if args.cluster:
        cluster = ClusterSettings(address=args.cluster, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                                  cpus_per_worker=args.cpus_per_worker, chunk_seconds=args.chunk_seconds)
    began = time.perf_counter()
    results = run_batch(jobs, paint, cluster=cluster, progress=progress)
    seconds = time.perf_counter() - began
    for result in results:
        if result.error is not None:
            print(f"rtstyle: error: {result.error}", file=sys.stderr)
    if args.json:
        print(json.dumps([_record(r) for r in results]))
    elif not args.quiet:
        print(table(results, seconds), file=sys.stderr)
    failed = [r.error for r in results if r.error is not None]
    return failed[0].exit_code if failed else 0


def _check(args: argparse.Namespace) -> None:
    if args.batch is not None and args.batch < 1:
        raise InputError("--batch must be at least 1")
    if args.chunk_seconds <= 0:
        raise InputError("--chunk-seconds must be more than 0")
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.cpus_per_worker <= 0 or (args.gpus_per_worker or 0) < 0:
        raise InputError("--cpus-per-worker must be more than 0 and --gpus-per-worker at least 0")


def _record(result: VideoResult) -> dict[str, object]:
    return {"input": str(result.job.source), "output": str(result.job.target), "frames": result.frames,
            "duration": round(result.duration, 3), "seconds": round(result.seconds, 3), "fps": round(result.fps, 2),
            "state": "failed" if result.error else "done", "error": str(result.error) if result.error else None}


def table(results: Sequence[VideoResult], seconds: float) -> str:
    """Each video's frames, seconds, fps and state, and a line for the whole batch."""
    name_width = max(5, *(len(r.job.source.name) for r in results))
    lines = [f"{'video':<{name_width}}  {'frames':>7}  {'seconds':>8}  {'fps':>7}  state"]
    for r in results:
        if r.error is None:
            lines.append(f"{r.job.source.name:<{name_width}}  {r.frames:>7}  {r.seconds:>8.1f}  {r.fps:>7.1f}  done")
        else:
            lines.append(f"{r.job.source.name:<{name_width}}  {'-':>7}  {r.seconds:>8.1f}  {'-':>7}  failed")
    frames = sum(r.frames for r in results)
    failed = sum(r.error is not None for r in results)
    lines.append(f"{len(results)} video(s), {len(results) - failed} done, {failed} failed: {frames} frames in "
                 f"{seconds:.1f} s ({frames / seconds if seconds else 0:.1f} fps)")
    return "\n".join(lines)
