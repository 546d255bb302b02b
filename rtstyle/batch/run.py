"""Run a batch here or on Ray, and what became of each video."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence

from rtstyle.batch.plan import ClusterSettings, PaintSettings, VideoJob, VideoResult, prepare_out
from rtstyle.errors import RtstyleError

log = logging.getLogger(__name__)

__all__ = ["ClusterSettings", "VideoResult", "run_batch"]  # the values live in plan.py: cluster.py and
# embedded.py need them, and this module imports those two


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
