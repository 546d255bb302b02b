"""``rtstyle batch``: many videos, long videos, on one process or on a Ray cluster.

The driver's trip, for each video: :func:`~rtstyle.batch.plan.plan_video` reads its packet
timestamps and cuts it into chunks of whole frames near keyframes; workers paint the chunks
(:func:`~rtstyle.batch.chunks.paint_chunk`: decode from a keyframe, paint a few frames before the
chunk for the stabilizer's sake, encode the chunk's own frames with the same H.264 settings);
:func:`~rtstyle.batch.chunks.join_chunks` remuxes the chunk files, in order, into one file with
the source's audio muxed once. Nothing is encoded twice.

Without a cluster (:mod:`rtstyle.batch.embedded`) one engine paints the videos one after another
through :func:`rtstyle.pipeline.stylize_video`, unchunked. :mod:`rtstyle.batch.cluster` is the only
module that imports Ray, and only when it runs.
"""

from __future__ import annotations

from rtstyle.batch.plan import Chunk, PaintSettings, VideoJob, VideoPlan, find_videos, plan_video
from rtstyle.batch.run import VideoResult, run_batch

__all__ = ["Chunk", "PaintSettings", "VideoJob", "VideoPlan", "VideoResult", "find_videos", "plan_video",
           "run_batch"]
