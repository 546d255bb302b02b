"""Run a batch here or on Ray, and what became of each video."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from rtstyle.batch.plan import PaintSettings, VideoJob, prepare_out
from rtstyle.errors import RtstyleError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """``address``: ``local`` (start Ray on this machine), ``auto`` or ``ray://host:port`` (join one).
    ``workers`` None: as many as the cluster's CPUs or GPUs hold; ``gpus_per_worker`` None: one
    each where the cluster has GPUs (and the device is not the CPU), none otherwise."""

    address: str = "local"
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1.0
    chunk_seconds: float = 20.0


@dataclass(frozen=True)
class VideoResult:
    job: VideoJob
    frames: int
    seconds: float
    error: RtstyleError | None = None
    duration: float = 0.0  # of the video written, in seconds

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run_batch(jobs: Sequence[VideoJob], paint: PaintSettings, *, cluster: ClusterSettings | None = None,
              progress: bool = False) -> list[VideoResult]:
    """Paint every job, one result per job in the same order; a video that fails does not stop the
    others. Errors that concern them all (the style, the provider, the cluster) are raised."""
    if cluster is not None and importlib.util.find_spec("ray") is None:
        if cluster.address != "local":
            raise RtstyleError(f"--cluster {cluster.address} needs Ray: pip install 'rtstyle[ray]'")
        log.warning("Ray is not installed (pip install 'rtstyle[ray]'): the videos are painted here, "
                    "one after another")
        cluster = None
    for folder in {job.target.parent for job in jobs}:
        prepare_out(folder)
    if cluster is None:
        from rtstyle.batch.embedded import run_embedded

        return run_embedded(jobs, paint, progress=progress)
    from rtstyle.batch.cluster import run_on_ray

    return run_on_ray(jobs, paint, cluster, progress=progress)
