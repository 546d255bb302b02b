"""`rtstyle batch`: many videos here or on Ray, each output as `rtstyle video` makes it.

The Ray tests share one local runtime of 2 CPUs (started once for the module) and paint tiny
clips with a fast network, so the module costs a few seconds beyond Ray's own start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rtstyle.batch import PaintSettings, VideoJob, plan_video
from rtstyle.batch.chunks import ChunkJob, join_chunks, paint_chunk
from rtstyle.batch.plan import _cuts
from rtstyle.cli import main
from rtstyle.engine import Engine, EngineConfig
from rtstyle.models import StyleInfo
from rtstyle.synthetic import _write_tone, scene
from rtstyle.temporal import StabilizerConfig, warping_error
from rtstyle.video import TimedFrame, VideoReader, VideoWriter
from tests.conftest import MODELS, VFR_TICKS, frame_times, streams, write_timed_clip

FAST = str(MODELS / "starry_night_fast.onnx")


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[object]:
    ray = pytest.importorskip("ray")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def _clip(path: Path, *, width: int = 96, height: int = 64, fps: Fraction | int = 10, frames: int = 40,
          gop: int = 10) -> Path:
    """:func:`scene` frames with a keyframe every ``gop`` frames, and an AAC tone as long."""
    fps = Fraction(fps)
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=fps, options={"g": str(gop), "keyint_min": str(gop)})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = 1 / fps
        tone = c.add_stream("aac", rate=48000, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(i, width, height), format="bgr24")
            frame.pts = i
            c.mux(video.encode(frame))
        c.mux(video.encode(None))
        _write_tone(c, tone, float(frames / fps))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two short clips (one odd-sized at 29.97 fps, in a .mov), one that 1-second chunks cut in four,
    a file that is not a video, and (under ``single/``) what `rtstyle video` makes of each clip."""
    from rtstyle.synthetic import write_clip

    folder = tmp_path_factory.mktemp("in")
    write_clip(folder / "short.mp4", width=64, height=48, fps=25, frames=12)
    write_clip(folder / "odd.mov", width=65, height=49, fps=Fraction(30000, 1001), frames=10, pix_fmt="yuv444p")
    _clip(folder / "long.mp4")
    (folder / "notes.txt").write_text("not a video: left alone")
    single = tmp_path_factory.mktemp("single")
    for name in CLIPS:
        assert main(["video", str(folder / name), str(single / name), "--quiet", "--style", FAST]) == 0
    return folder, single


CLIPS = ("long.mp4", "odd.mov", "short.mp4")


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return list(reader)


def _ran(cluster: str | None, request: pytest.FixtureRequest) -> list[str]:
    if cluster is None:
        return []
    request.getfixturevalue("ray_runtime")
    return ["--cluster", cluster]


@pytest.mark.parametrize("cluster", [None, "local"], ids=["embedded", "ray"])
def test_batch_gives_what_rtstyle_video_gives(clips: tuple[Path, Path], tmp_path: Path, request,
                                              cluster: str | None) -> None:
    folder, single = clips
    out = tmp_path / "out"
    flags = ["--quiet", "--style", FAST, "--chunk-seconds", "1"]
    assert main(["batch", str(folder), "--out", str(out), *flags, *_ran(cluster, request)]) == 0
    assert sorted(p.name for p in out.iterdir()) == list(CLIPS)  # and no chunk left behind
    chunks = plan_video(VideoJob(folder / "long.mp4", out / "long.mp4"), chunk_seconds=1, warmup=8).chunks
    assert len(chunks) == 4
    for name in CLIPS:
        got, want = streams(out / name), streams(single / name)
        assert got["frames"] == want["frames"] and got["fps"] == want["fps"]
        assert got["container"] == want["container"] and got["video"] == ("h264", "yuv420p")
        assert [a[:2] for a in got["audio"]] == [a[:2] for a in want["audio"]] == [("aac", 2)]
        assert got["audio"][0][2] == pytest.approx(want["audio"][0][2], abs=0.03)
        painted, alone = _frames(out / name), _frames(single / name)
        assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(painted, alone, strict=True)]) < 6


@pytest.mark.parametrize("cluster", [None, "local"], ids=["embedded", "ray"])
def test_a_corrupt_video_fails_alone(tmp_path: Path, request, capsys, cluster: str | None) -> None:
    from rtstyle.synthetic import write_clip

    folder = tmp_path / "in"
    folder.mkdir()
    good = _clip(folder / "good.mp4", frames=20)
    cut = write_clip(folder / "cut.mp4", width=64, height=48, frames=60, faststart=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 6 // 10])
    (folder / "text.mkv").write_text("hello, not a video")
    out = tmp_path / "out"
    argv = ["batch", str(folder), "--out", str(out), "--style", FAST, "--chunk-seconds", "1"]
    assert main([*argv, *_ran(cluster, request)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rtstyle: error: ")]
    assert len(errors) == 2
    assert "cut.mp4" in errors[0] and "truncated or corrupt" in errors[0]
    assert "text.mkv" in errors[1] and "not a video file" in errors[1]
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4"]  # no partial file, no chunks
    assert streams(out / "good.mp4")["frames"] == streams(good)["frames"] == 20


def test_the_table_says_what_became_of_each_video(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _clip(folder / "a.mp4", frames=12)
    (folder / "b.mp4").write_text("no")
    assert main(["batch", str(folder), "--out", str(tmp_path / "out"), "--style", FAST]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "rtstyle: error: not a video file: " + str(folder / "b.mp4") + " (Invalid data found when " \
                       "processing input)"
    assert lines[1].split() == ["video", "frames", "seconds", "fps", "state"]
    assert lines[2].split()[:2] == ["a.mp4", "12"] and lines[2].split()[-1] == "done"
    assert lines[3].split()[:2] == ["b.mp4", "-"] and lines[3].split()[-1] == "failed"
    assert lines[4].startswith("2 video(s), 1 done, 1 failed: 12 frames in ")


def test_chunks_own_every_frame_once_and_decode_from_a_keyframe(tmp_path: Path) -> None:
    source = _clip(tmp_path / "in.mp4", frames=95, gop=30)
    plan = plan_video(VideoJob(source, tmp_path / "out.mp4"), chunk_seconds=2, warmup=5)
    # Every 20 frames; the third cut moves to the keyframe at 60 plus the warm-up; the last chunk
    # takes the 30 frames left rather than leave 10.
    assert [(c.start, c.end) for c in plan.chunks] == [(0, 20), (20, 40), (40, 65), (65, 95)]
    with av.open(str(source)) as c:
        packets = [(p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size]
    pts, keys = sorted(t for t, _ in packets), [t for t, key in packets if key]
    for chunk in plan.chunks[1:]:
        assert chunk.warm == chunk.start - 5
        assert (chunk.warm_pts, chunk.start_pts) == (pts[chunk.warm], pts[chunk.start])
        keyframe = max(k for k in keys if k <= chunk.warm_pts)  # the one at or before the warm-up
        assert chunk.seek_pts == (None if keyframe == pts[0] else keyframe)  # None: from the file's start
    at_10_fps = [Fraction(i, 10) for i in range(51)]
    assert _cuts([0], at_10_fps[:50], Fraction(2), 5) == [(0, 20), (20, 50)]
    assert _cuts([0], at_10_fps, Fraction(2), 5) == [(0, 20), (20, 40), (40, 51)]


def test_a_two_frame_chunk_joins_at_the_exact_rate(tmp_path: Path) -> None:
    """x264 starts a clip shorter than its B-frame delay without the delay: joined as encoded, the
    timestamps would leave a gap at the seam and the file's rate would be off."""
    source = _clip(tmp_path / "in.mp4", fps=Fraction(30000, 1001), frames=40, gop=250)
    whole = plan_video(VideoJob(source, tmp_path / "out.mp4"), chunk_seconds=100, warmup=0)
    (chunk,) = whole.chunks
    with av.open(str(source)) as c:
        pts = sorted(p.pts for p in c.demux(video=0) if p.size)
    step = pts[1] - pts[0]
    head = dataclasses.replace(chunk, end=38, end_pts=38 * step)
    tail = dataclasses.replace(chunk, index=1, start=38, warm=38, seek_pts=0, warm_pts=38 * step,
                               start_pts=38 * step)
    plan = dataclasses.replace(whole, chunks=(head, tail))
    paint = PaintSettings(styles=(StyleInfo.from_file(FAST),), engine=EngineConfig(device="cpu"))
    engine = Engine(list(paint.styles), paint.engine)
    parts = [tmp_path / "head.mp4", tmp_path / "tail.mp4"]
    for part, piece in zip(parts, plan.chunks, strict=True):
        paint_chunk(ChunkJob(source, part, piece, plan.fps, "libx264"), engine, paint)
    join_chunks(plan, parts)
    got = streams(plan.job.target)
    assert got["frames"] == 40 and got["fps"] == Fraction(30000, 1001)


def _jitter(frame: np.ndarray) -> np.ndarray:
    """Noise (σ 12) that a given input frame always gets, whichever chunk paints it."""
    return np.random.default_rng(zlib.crc32(frame.tobytes())).normal(0, 12, frame.shape)


def test_seams_are_as_steady_as_the_rest(tmp_path: Path, monkeypatch) -> None:
    """With a network whose strokes jitter from frame to frame (as real ones do), the warping error
    between the last frame of a chunk and the first of the next is no worse than between frames
    inside a chunk: the warm-up gives each chunk's stabilizer its past. After encoding, a seam is
    also a keyframe, coded apart from the frame before it, which costs a little more (docs/batch.md)."""
    network = Engine.paint

    def jittery(self: Engine, frames: np.ndarray, style: str | None = None) -> np.ndarray:
        noise = np.stack([_jitter(f) for f in frames])
        return np.clip(network(self, frames, style) + noise, 0, 255).astype(np.uint8)

    painted: dict[str, list[np.ndarray]] = {}
    write = VideoWriter.write

    def kept(self: VideoWriter, frame: TimedFrame) -> None:
        picture = frame.image  # I420, as the pipeline hands frames to the encoder
        painted.setdefault(self.path.name, []).append(cv2.cvtColor(picture, cv2.COLOR_YUV2BGR_I420))
        write(self, frame)

    monkeypatch.setattr(Engine, "paint", jittery)
    monkeypatch.setattr(VideoWriter, "write", kept)
    source = _clip(tmp_path / "in.mp4", frames=48, gop=12)
    paint = PaintSettings(styles=(StyleInfo.from_file(FAST),), engine=EngineConfig(device="cpu"),
                          stabilize=StabilizerConfig())
    plan = plan_video(VideoJob(source, tmp_path / "out.mp4"), chunk_seconds=1, warmup=paint.warmup)
    assert len(plan.chunks) >= 4
    engine = Engine(list(paint.styles), paint.engine)
    parts = [tmp_path / f"chunk{c.index}.mp4" for c in plan.chunks]
    for chunk, part in zip(plan.chunks, parts, strict=True):
        paint_chunk(ChunkJob(source, part, chunk, plan.fps, "libx264"), engine, paint)
    join_chunks(plan, parts)
    inputs = _frames(source)
    seams = {c.start for c in plan.chunks[1:]}
    for outputs, worse in ([f for part in parts for f in painted[part.name]], 1.1), (_frames(plan.job.target), 1.75):
        assert len(outputs) == 48
        errors = {t: warping_error(inputs[t - 1: t + 1], outputs[t - 1: t + 1]) for t in range(1, 48)}
        inside = [e for t, e in errors.items() if t not in seams]
        assert np.mean([errors[t] for t in seams]) <= worse * np.mean(inside)


def _ray_titles() -> dict[int, str]:
    """Ray worker processes by pid, with their titles (``ray::ChunkWorker.paint_chunk`` while painting)."""
    titles = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    title = f.read(64).split(b"\0")[0].decode(errors="replace").strip()
            except OSError:
                continue
            if title.startswith("ray::"):
                titles[int(entry.name)] = title
    return titles


def _kill_a_painting_worker(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray worker caught painting a chunk: a machine lost mid-chunk."""
    while not stop.is_set():
        for pid, title in _ray_titles().items():
            if title.startswith("ray::ChunkWorker.paint_chunk"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.001)


def test_a_worker_killed_mid_chunk_is_restarted_and_the_output_is_the_same(ray_runtime, tmp_path: Path) -> None:
    source = _clip(tmp_path / "film.mp4", width=160, height=96, frames=60)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_painting_worker, args=(stop, killed))
    killer.start()
    try:
        argv = ["batch", str(source), "--out", str(tmp_path / "out"), "--style", FAST, "--chunk-seconds", "2"]
        assert main([*argv, "--cluster", "local", "--quiet"]) == 0
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1  # a worker did die mid-chunk
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["film.mp4"]
    # The same chunks painted here, in order, as each worker paints them (one CPU thread each):
    paint = PaintSettings(styles=(StyleInfo.from_file(FAST),), engine=EngineConfig(threads=1),
                          stabilize=StabilizerConfig())
    plan = plan_video(VideoJob(source, tmp_path / "calm.mp4"), chunk_seconds=2, warmup=paint.warmup)
    engine = Engine(list(paint.styles), paint.engine)
    parts = [tmp_path / f"chunk{c.index}.mp4" for c in plan.chunks]
    for chunk, part in zip(plan.chunks, parts, strict=True):
        paint_chunk(ChunkJob(source, part, chunk, plan.fps, "libx264"), engine, paint)
    join_chunks(plan, parts)
    calm, survived = _frames(tmp_path / "calm.mp4"), _frames(tmp_path / "out" / "film.mp4")
    assert len(plan.chunks) == 3 and len(survived) == len(calm) == 60
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(calm, survived, strict=True)) == 0


def test_ctrl_c_stops_the_workers_and_leaves_nothing(ray_runtime, tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        _clip(folder / name, frames=20)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C as the first video is being joined, the others being painted

    monkeypatch.setattr("rtstyle.batch.cluster.join_chunks", interrupted)
    out = tmp_path / "out"
    argv = ["batch", str(folder), "--out", str(out), "--style", FAST, "--chunk-seconds", "1", "--cluster", "local"]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "rtstyle: interrupted"
    assert list(out.iterdir()) == []
    deadline = time.monotonic() + 20
    while ray_runtime.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray_runtime.available_resources().get("CPU") == 2  # the workers were stopped


BAD = [  # id, argv after "batch" (IN: a clip's folder, OUT: a fresh folder), message, exit code
    ("missing input", ["IN/nope.mp4", "--out", "OUT"], "input not found", 2),
    ("no videos", ["EMPTY", "--out", "OUT"], "no videos in", 2),
    ("out is a file", ["IN", "--out", "IN/a.mp4"], "--out is a file", 3),
    ("same names", ["IN/a.mp4", "IN2/a.mp4", "--out", "OUT"], "would both be written to", 2),
    ("chunk seconds", ["IN", "--out", "OUT", "--chunk-seconds", "0"], "--chunk-seconds must be more than 0", 2),
    ("unknown style", ["IN", "--out", "OUT", "--style", "vermeer"], "unknown style 'vermeer'", 4),
    ("no ray for a cluster", ["IN", "--out", "OUT", "--cluster", "ray://10.0.0.1:10001"], "needs Ray", 1),
]


@pytest.mark.parametrize("name, argv, message, code", BAD, ids=[b[0] for b in BAD])
def test_bad_command_lines_are_one_line_and_write_nothing(tmp_path: Path, monkeypatch, capsys, name, argv, message,
                                                          code) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    for folder in ("IN", "IN2", "EMPTY"):
        (tmp_path / folder).mkdir()
    _clip(tmp_path / "IN" / "a.mp4", frames=4)
    (tmp_path / "IN2" / "a.mp4").write_bytes((tmp_path / "IN" / "a.mp4").read_bytes())
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [str(tmp_path / a) if a.split("/")[0] in ("IN", "IN2", "EMPTY", "OUT") else a for a in argv]
    style = [] if "--style" in argv else ["--style", FAST]
    assert main(["batch", *args, *style, "--quiet"]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtstyle: error: ") and message in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_without_ray_local_runs_here(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    source = _clip(tmp_path / "a.mp4", frames=6)
    out = tmp_path / "out"
    assert main(["batch", str(source), "--out", str(out), "--cluster", "local", "--style", FAST, "--quiet"]) == 0
    assert streams(out / "a.mp4")["frames"] == 6
    assert "Ray is not installed" in caplog.text


def test_too_many_workers_for_the_cluster(ray_runtime, tmp_path: Path, capsys) -> None:
    source = _clip(tmp_path / "a.mp4", frames=4)
    argv = ["batch", str(source), "--out", str(tmp_path / "out"), "--cluster", "local", "--workers", "3", "--quiet"]
    assert main([*argv, "--style", FAST]) == 2
    assert capsys.readouterr().err.strip() == ("rtstyle: error: the Ray cluster has 2 CPUs and 0 GPUs: 3 worker(s) "
                                               "of 1 CPU(s) and 0 GPU(s) each do not fit")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("cluster", [None, "local"], ids=["embedded", "ray"])
def test_variable_frame_rate_keeps_every_frames_time(tmp_path: Path, request, capsys, cluster: str | None) -> None:
    """A phone's clip (20 frames 1/25 s apart, then 15 frames 1/12.5 s apart) keeps each frame's
    time, here and on Ray, where half-second chunks put seams inside the slow part."""
    source = write_timed_clip(tmp_path / "phone.mp4")
    out = tmp_path / "out"
    flags = ["--quiet", "--json", "--style", FAST, "--chunk-seconds", "0.5"]
    assert main(["batch", str(source), "--out", str(out), *flags, *_ran(cluster, request)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["frames"], record["duration"]) == (35, pytest.approx(2.0))
    seams = [c.start for c in plan_video(VideoJob(source, out / "x.mp4"), chunk_seconds=0.5, warmup=8).chunks[1:]]
    assert [s for s in seams if s > 20] == [23, 30]  # frames 1/12.5 s apart: a time-based plan
    assert frame_times(out / "phone.mp4") == pytest.approx([tick / 50 for tick in VFR_TICKS], abs=1e-4)
    assert streams(out / "phone.mp4")["audio"][0][2] == pytest.approx(streams(source)["audio"][0][2], abs=0.03)
