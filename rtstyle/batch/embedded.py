"""No cluster: one engine paints the videos one after another, each as `rtstyle video` would."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tqdm import tqdm

from rtstyle.batch.plan import PaintSettings, VideoJob, VideoResult, header_frames
from rtstyle.engine import Engine
from rtstyle.errors import RtstyleError
from rtstyle.pipeline import stylize_video
from rtstyle.temporal import Stabilizer


def run_embedded(jobs: Sequence[VideoJob], paint: PaintSettings, *, progress: bool = False) -> list[VideoResult]:
    """Every video through :func:`~rtstyle.pipeline.stylize_video`, one progress bar over all frames."""
    engine = Engine(list(paint.styles), paint.engine)
    results = []
    total = sum(header_frames(job.source) for job in jobs)
    with tqdm(total=total or None, unit="frame", disable=not progress, desc="batch", leave=False) as bar:
        for job in jobs:
            began = time.perf_counter()
            stabilizer = Stabilizer(paint.stabilize) if paint.stabilize else None
            try:
                run = stylize_video(job.source, job.target, engine, batch_size=paint.batch_size,
                                    stabilizer=stabilizer, encoder=paint.encoder,
                                    preserve_colors=paint.preserve_colors, progress=False, on_frames=bar.update)
            except RtstyleError as exc:
                results.append(VideoResult(job, 0, time.perf_counter() - began, exc))
                continue
            results.append(VideoResult(job, run.frames, run.seconds, duration=run.duration))
    return results
