"""`rtstyle video` (rtstyle/video.py and the pipeline behind it): what a user notices in the output file and on
the terminal. The other commands (`image`, `styles`, `demo`) are in test_cli.py."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtstyle.cli import main
from rtstyle.engine import Engine
from rtstyle.synthetic import scene
from rtstyle.video import VideoReader, VideoWriter, bgr_image, yuv_frame
from tests.conftest import SHARED, VFR_TICKS, frame_times, needs_shared, streams, write_timed_clip


def _first_frame(path: Path) -> np.ndarray:
    with VideoReader(path) as r:
        return next(iter(r))


CASES = [  # name, write_clip options
    ("plain.mp4", dict(width=64, height=48, fps=25, frames=12)),
    ("ntsc_odd.mp4", dict(width=65, height=49, fps=Fraction(30000, 1001), frames=10, pix_fmt="yuv444p")),
    ("portrait_51.mov", dict(width=48, height=96, fps=24, frames=8, channels="5.1")),
    ("pcm.mkv", dict(width=64, height=48, fps=10, frames=6, audio_codec="pcm_s16le")),
    ("mpeg4_mp3.avi", dict(width=80, height=64, fps=15, frames=9, codec="mpeg4", audio_codec="mp3")),
    ("silent.mp4", dict(width=32, height=32, fps=50, frames=5, audio=False)),
]


@pytest.mark.parametrize("name, options", CASES, ids=[c[0] for c in CASES])
def test_video_keeps_frames_rate_and_audio(tiny_models, clip, tmp_path: Path, name: str, options: dict) -> None:
    source = clip(name, **options)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--quiet", "--batch", "3"]) == 0
    got, want = streams(target), streams(source)
    assert got["frames"] == options["frames"]
    assert got["fps"] == Fraction(options["fps"])
    assert got["video"] == ("h264", "yuv420p")  # what every player can play
    assert len(got["audio"]) == len(want["audio"])
    for (_, channels_out, seconds_out), (_, channels_in, seconds_in) in zip(got["audio"], want["audio"], strict=True):
        assert channels_out == channels_in
        assert abs(seconds_out - seconds_in) < 0.05
    out, inp = _first_frame(target), _first_frame(source)
    assert out.shape[:2] == (inp.shape[0] + inp.shape[0] % 2, inp.shape[1] + inp.shape[1] % 2)
    assert np.abs(out[: inp.shape[0], : inp.shape[1]].astype(int) - inp).mean() > 20  # it was stylized
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "out.mp4"])  # no leftovers


def _clip_with_tracks(path: Path, tracks: list[tuple[str, str, float]], *, frames: int = 5, fps: int = 25) -> Path:
    """A 32×32 clip of ``frames`` frames with one 440 Hz tone per (codec, layout, seconds) in ``tracks``."""
    from rtstyle.synthetic import _write_tone, scene

    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        tones = [(c.add_stream(codec, rate=48000, layout=layout), seconds) for codec, layout, seconds in tracks]
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(i, 32, 32), format="bgr24")
            frame.pts, video.codec_context.time_base = i, Fraction(1, fps)
            c.mux(video.encode(frame))
        c.mux(video.encode(None))
        for stream, seconds in tones:
            _write_tone(c, stream, seconds)
    return path


def _packet_sizes(path: Path, track: int) -> list[int]:
    with av.open(str(path)) as c:
        return [p.size for p in c.demux(audio=track) if p.size]


AAC, PCM = ("aac", "stereo", 0.2), ("pcm_s16le", "mono", 0.2)  # 0.2 s: as long as the video
CONTAINERS = {".mp4": "isom", ".mov": "qt", ".mkv": "matroska"}
AUDIO_CASES = [  # id, input, its audio tracks (codec, layout, seconds), output, the output's tracks (codec, copied)
    ("aac into mp4", "in.mp4", [AAC], "out.mp4", [("aac", True)]),
    ("aac into mov", "in.mp4", [AAC], "out.mov", [("aac", True)]),
    ("aac into mkv", "in.mp4", [AAC], "out.mkv", [("aac", True)]),
    ("pcm into mov", "in.mkv", [PCM], "out.mov", [("pcm_s16le", True)]),
    ("pcm into mkv", "in.mkv", [PCM], "out.mkv", [("pcm_s16le", True)]),
    ("pcm into mp4", "in.mkv", [PCM], "out.mp4", [("aac", False)]),
    ("two tracks", "in.mkv", [AAC, PCM], "out.mp4", [("aac", True), ("aac", False)]),
    ("audio longer than the video", "in.mp4", [("aac", "stereo", 1.5)], "out.mp4", [("aac", True)]),
]


@pytest.mark.parametrize("name, source_name, tracks, target_name, want", AUDIO_CASES, ids=[c[0] for c in AUDIO_CASES])
def test_every_audio_track_is_kept_whole_in_the_container_asked_for(tiny_models, tmp_path: Path, name: str,
                                                                    source_name: str, tracks: list, target_name: str,
                                                                    want: list) -> None:
    """Copied packet for packet where the container can hold the codec, AAC otherwise; as long as it was."""
    source = _clip_with_tracks(tmp_path / source_name, tracks)
    target = tmp_path / target_name
    assert main(["video", str(source), str(target), "--quiet"]) == 0
    got = streams(target)
    assert got["container"] == CONTAINERS[target.suffix]
    assert got["video"] == ("h264", "yuv420p") and got["frames"] == 5
    kept = [(codec, len(av.AudioLayout(layout).channels), seconds)
            for (codec, _), (_, layout, seconds) in zip(want, tracks, strict=True)]
    assert [track[:2] for track in got["audio"]] == [track[:2] for track in kept]  # codec, channels
    assert [track[2] for track in got["audio"]] == pytest.approx([track[2] for track in kept], abs=0.05)  # seconds
    for track, (_, copied) in enumerate(want):
        if copied:
            assert _packet_sizes(target, track) == _packet_sizes(source, track)


MARKED = np.full((32, 64, 3), 60, np.uint8)
MARKED[:12, :16] = 255  # a white block in the top-left corner of a grey frame


def _marked_clip(path: Path, rotation: int) -> Path:
    """Two :data:`MARKED` frames, coded as they are, with a display rotation."""
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 32, "yuv420p"
        video.set_display_rotation(rotation)
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(MARKED, format="bgr24")
            frame.pts, video.codec_context.time_base = i, Fraction(1, 25)
            c.mux(video.encode(frame))
        c.mux(video.encode(None))
    return path


def _odd_corner(image: np.ndarray) -> str:
    """The corner whose quarter of ``image`` stands out from the other three."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    quarters = {"top left": image[:h, :w], "top right": image[:h, w:], "bottom left": image[h:, :w],
                "bottom right": image[h:, w:]}
    means = {corner: q.reshape(-1, 3).mean(axis=0) for corner, q in quarters.items()}
    median = np.median(list(means.values()), axis=0)
    return max(means, key=lambda corner: float(np.abs(means[corner] - median).sum()))


# PyAV's rotation is counter-clockwise, as FFmpeg's display matrix: -90 is the matrix (0, 1, -1, 0)
# that a phone writes for a portrait video, shown turned 90° clockwise.
ROTATIONS = [(90, "bottom left"), (-90, "top right"), (180, "bottom right")]


@pytest.mark.parametrize("rotation, corner", ROTATIONS)
def test_rotation_metadata_is_applied(tiny_models, tmp_path: Path, monkeypatch, rotation: int, corner: str) -> None:
    # The tiny random networks paint much the same picture whatever the input, marker or not:
    # a network that paints nothing shows where the pipeline put the marker.
    monkeypatch.setattr(Engine, "stylize", lambda self, frames, style=None, **_: frames)
    source = _marked_clip(tmp_path / "rot.mp4", rotation)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--quiet"]) == 0
    out = _first_frame(target)
    assert out.shape[:2] == ((32, 64) if rotation == 180 else (64, 32))
    assert _odd_corner(out) == corner


@pytest.mark.parametrize(("flags", "precision"), [
    ([], None),  # auto: fp16 on a GPU, fp32 on the CPU
    (["--device", "cpu"], "fp32"),
    (["--device", "cpu", "--precision", "fp16"], "fp16"),
])
def test_json_result(tiny_models, clip, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch,
                     flags: list[str], precision: str | None) -> None:
    engines: list[Engine] = []
    made = Engine.__init__

    def remembered(self: Engine, *args: object, **options: object) -> None:
        made(self, *args, **options)  # type: ignore[arg-type]
        engines.append(self)

    monkeypatch.setattr(Engine, "__init__", remembered)
    source = clip("in.mp4", width=32, height=32, frames=7)
    assert main(["video", str(source), str(tmp_path / "o.mp4"), "--json", "--style", tiny_models[1], *flags]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 7 and result["style"] == tiny_models[1] and result["fps"] > 0
    (engine,) = engines
    running = engine._sessions[tiny_models[1]].session.get_providers()[0]
    assert result["provider"] == running  # what onnxruntime runs on, not what was asked for
    assert result["precision"] == (precision or ("fp32" if running == "CPUExecutionProvider" else "fp16"))
    assert set(result["stage_seconds"]) == {"decode", "stylize", "encode"}


def test_styles_differ(tiny_models, clip, tmp_path: Path) -> None:
    source = clip("in.mp4", width=32, height=32, frames=2, audio=False)
    frames = []
    for style in tiny_models[:2]:
        assert main(["video", str(source), str(tmp_path / f"{style}.mp4"), "--quiet", "--style", style]) == 0
        frames.append(_first_frame(tmp_path / f"{style}.mp4"))
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 10


def _flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute change (0–255) between consecutive frames: in a scene that hardly moves, the
    shimmer a viewer sees."""
    steps = np.diff(np.stack(frames).astype(np.int16), axis=0)
    return float(np.abs(steps).mean())


def test_stabilizing_is_on_by_default_and_follows_its_strength(tiny_models, clip, tmp_path: Path,
                                                               monkeypatch) -> None:
    rng = np.random.default_rng(0)
    paint = Engine.paint

    def jittery(self: Engine, frames: np.ndarray, style: str | None = None) -> np.ndarray:
        """A network whose strokes move from frame to frame, as real ones do."""
        out = paint(self, frames, style) + rng.normal(0, 12, frames.shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    monkeypatch.setattr(Engine, "paint", jittery)
    source = clip("in.mp4", width=64, height=48, frames=8, audio=False)
    flicker = {}
    for flags in (["--no-stabilize"], [], ["--stabilize-strength", "0.9"]):
        target = tmp_path / "out.mp4"
        assert main(["video", str(source), str(target), "--quiet", *flags]) == 0
        with VideoReader(target) as reader:
            flicker[" ".join(flags) or "default"] = _flicker(list(reader))
    assert flicker["default"] < 0.5 * flicker["--no-stabilize"]
    assert flicker["--stabilize-strength 0.9"] < 0.7 * flicker["default"]


# At stroke size S a frame is painted at (480 / S)² pixels with its own aspect ratio, whatever its size
# (416×554, 208×277, 104×139 for 48×64), padded to multiples of 4 for the network.
@pytest.mark.parametrize(("stroke", "painted_at"), [("1", (416, 556)), ("2", (208, 280)), ("4", (104, 140))])
def test_stroke_size_sets_the_size_the_network_paints_at(tiny_models, clip, tmp_path: Path, monkeypatch, stroke: str,
                                                         painted_at: tuple[int, int]) -> None:
    from rtstyle.engine import _PlainRunner

    seen: set[tuple[int, ...]] = set()
    run = _PlainRunner.run

    def watched(self: _PlainRunner, frames: np.ndarray) -> np.ndarray:
        if frames.any():  # not the engine's all-black warm-up
            seen.add(frames.shape[1:3])
        return run(self, frames)

    monkeypatch.setattr(_PlainRunner, "run", watched)
    source = clip("in.mp4", width=64, height=48, frames=3, audio=False)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--quiet", "--device", "cpu", "--stroke-size", stroke]) == 0
    assert seen == {painted_at}
    assert _first_frame(target).shape == (48, 64, 3)


def _not_a_video(tmp: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("hello, not a video")
    return path


def _truncated(tmp: Path) -> Path:
    """A clip with sound, cut short at 35 of its 60 frames: more than the pipeline's queues hold,
    so the cut is found after the output file was begun, and the half-written file must go."""
    from rtstyle.synthetic import write_clip

    path = write_clip(tmp / "cut.mp4", width=64, height=48, frames=60, faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def _audio_only(tmp: Path) -> Path:
    path = tmp / "sound.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path


NO_NVIDIA = pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="has an NVIDIA driver")
BAD_INPUTS = [  # id, make input, extra args, message, exit code (README), fails once the output file was begun
    ("missing", lambda t: t / "nope.mp4", [], "input not found", 2, False),
    ("not a video", _not_a_video, [], "not a video file", 2, False),
    ("no video stream", _audio_only, [], "no video stream", 2, False),
    ("truncated", _truncated, [], "truncated or corrupt", 2, True),
    ("bad batch", None, ["--batch", "0"], "--batch must be at least 1", 2, False),
    ("missing output folder", None, ["OUT=missing/dir/out.mp4"], "output folder does not exist", 3, False),
    ("output is a folder", None, ["OUT=."], "output is a folder", 3, False),
    ("same file", None, ["OUT=in.mp4"], "overwrite the input", 3, False),
    pytest.param("no nvenc", None, ["--encoder", "h264_nvenc"], "h264_nvenc encoder cannot open", 3, False,
                 marks=NO_NVIDIA),
    ("unknown style", None, ["--style", "vermeer"], "unknown style 'vermeer'", 4, False),
    pytest.param("no cuda", None, ["--device", "cuda"], "--device cuda was asked for", 5, False, marks=NO_NVIDIA),
]


@pytest.mark.parametrize("name, make, extra, message, code, half_written", BAD_INPUTS)
def test_bad_input_is_one_line_and_its_exit_code(tiny_models, clip, tmp_path: Path, capsys, monkeypatch, name, make,
                                                 extra, message, code, half_written) -> None:
    begun: list[bool] = []
    write = VideoWriter.write

    def watched(self: VideoWriter, image: np.ndarray) -> None:
        write(self, image)
        begun.append(self.partial.exists())

    monkeypatch.setattr(VideoWriter, "write", watched)
    source = make(tmp_path) if make else clip("in.mp4", width=32, height=32, frames=4)
    target = tmp_path / "out.mp4"
    args = [a for a in extra if not a.startswith("OUT=")]
    for a in extra:
        if a.startswith("OUT="):
            target = tmp_path / a[4:]
    before = sorted(os.listdir(tmp_path))
    assert main(["video", str(source), str(target), "--quiet", *args]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtstyle: error: ") and message in err and "\n" not in err
    assert any(begun) == half_written
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, nothing left behind


def _ticking_call(method: Callable[..., object], tick: Callable[[], None]) -> Callable[..., object]:
    """``method`` that calls ``tick`` first (a stage that handles one frame per call)."""

    def call(self: object, *args: object, **options: object) -> object:
        tick()
        return method(self, *args, **options)
    return call


def _ticking_frames(method: Callable[..., Iterator[np.ndarray]], tick: Callable[[], None]
                    ) -> Callable[..., Iterator[np.ndarray]]:
    """``method`` whose frames each come after a ``tick`` (the decoder's generator)."""

    def frames(self: object, *args: object, **kwargs: object) -> Iterator[np.ndarray]:
        for frame in method(self, *args, **kwargs):
            tick()
            yield frame
    return frames


STAGES = {  # the stage busy when Ctrl-C comes: class, method called once per frame, how to wrap it
    "decoding": (VideoReader, "timed", _ticking_frames),
    "inference": (Engine, "stylize", _ticking_call),
    "encoding": (VideoWriter, "write", _ticking_call),
}


def test_nvenc_constant_quality_is_not_capped_by_a_default_bitrate() -> None:
    from rtstyle.video import _ENCODER_OPTIONS

    options = _ENCODER_OPTIONS["h264_nvenc"](18)
    assert options["cq"] == "18" and options["b"] == "0"


def test_nvenc_on_a_gpu_without_an_encoder_says_so(monkeypatch) -> None:
    from rtstyle.errors import OutputError
    from rtstyle.video import pick_encoder

    monkeypatch.setattr("rtstyle.engine.nvidia_driver_present", lambda: True)

    def no_encoder(name: str, mode: str) -> av.CodecContext:
        raise av.error.PermissionError(1, f"avcodec_open2({name!r}): OpenEncodeSessionEx failed: unsupported device")

    monkeypatch.setattr(av.CodecContext, "create", no_encoder)
    with pytest.raises(OutputError, match="this NVIDIA GPU has no video encoder .*H100"):
        pick_encoder("h264_nvenc", (64, 48), Fraction(25))


@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_in_any_stage_exits_130_and_leaves_no_output(tiny_models, clip, tmp_path: Path, monkeypatch, capsys,
                                                            stage: str) -> None:
    """``stage`` is the slow one, so the main thread waits on it (decoding, encoding) or is in it
    (inference) when Ctrl-C comes, at the 15th frame: by then the output file was begun (the
    queues hold ten frames at most), and it must go."""
    owner, method, wrap = STAGES[stage]
    frames, partial_seen = itertools.count(1), []

    def tick() -> None:
        time.sleep(0.02)
        if next(frames) == 15:
            time.sleep(0.1)  # the other stages catch up and wait
            partial_seen.append(any(".partial" in p.name for p in tmp_path.iterdir()))
            os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C: Python raises it in the main thread

    monkeypatch.setattr(owner, method, wrap(getattr(owner, method), tick))
    # Ctrl-C as in a terminal, also when pytest itself was started in the background (`cmd &`),
    # where the shell makes the process ignore SIGINT
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    source = clip("in.mp4", width=32, height=32, frames=30)
    try:
        code = main(["video", str(source), str(tmp_path / "out.mp4"), "--quiet", "--batch", "1"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    assert capsys.readouterr().err.strip() == "rtstyle: interrupted"
    assert partial_seen == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("rtstyle-")]


@pytest.mark.parametrize(("command", "want"),
                         [(["demo"], {1}), (["video", "IN"], {1}), (["video", "IN", "--batch", "3"], {3})])
def test_cpu_stylizes_one_frame_at_a_time_unless_told(tiny_models, clip, tmp_path: Path, monkeypatch,
                                                      command, want) -> None:
    """Batches are slower on a CPU (docs/benchmarks.md); every command takes the same default."""
    sizes: set[int] = set()
    original = Engine.stylize

    def counting(self, frames, style=None, **options):
        sizes.add(len(frames))
        return original(self, frames, style, **options)

    monkeypatch.setattr(Engine, "stylize", counting)
    source = clip("in.mp4", width=32, height=32, frames=12)

    def small_demo_clip(path: Path, **options: object) -> Path:
        """The demo's own 640×360 clip takes 9 s here (test_demo_needs_nothing_but_a_style runs it)."""
        return clip(Path(path).name, width=32, height=32, frames=12)

    monkeypatch.setattr("rtstyle.synthetic.write_clip", small_demo_clip)
    argv = [str(source) if a == "IN" else a for a in command]
    assert main([*argv, str(tmp_path / "out.mp4"), "--quiet", "--device", "cpu"]) == 0
    assert sizes == want


@needs_shared
def test_real_clip_with_51_audio(tiny_models, tmp_path: Path) -> None:
    source = SHARED / "data" / "video" / "big_buck_bunny_720p_5s.mp4"
    target = tmp_path / "bbb.mp4"
    assert main(["video", str(source), str(target), "--quiet", "--stroke-size", "4"]) == 0
    got = streams(target)
    assert got["frames"] == 132 and got["fps"] == 25
    assert [(codec, channels) for codec, channels, _ in got["audio"]] == [("aac", 6)]
    assert _first_frame(target).shape == (720, 1280, 3)


def test_written_frames_keep_their_colours(tmp_path: Path) -> None:
    from rtstyle.synthetic import scene

    picture = scene(3, 160, 96)
    picture[:48, :48] = (255, 0, 0)  # blue in BGR
    picture[48:, :48] = (0, 0, 255)  # red
    with VideoWriter(tmp_path / "c.mp4", Fraction(25)) as writer:
        for _ in range(3):
            writer.write(picture)
    with VideoReader(tmp_path / "c.mp4") as reader:
        back = next(iter(reader))
    # as ints: pytest.approx subtracts, and 0 - np.uint8(1) wraps to 255 (issue 31's accurate rounding gives 1)
    assert tuple(back[24, 24].tolist()) == pytest.approx((255, 0, 0), abs=20)
    assert tuple(back[72, 24].tolist()) == pytest.approx((0, 0, 255), abs=20)
    assert np.abs(back.astype(np.int16) - picture).mean() < 8


@pytest.mark.parametrize("codec, pix_fmt", [("libx264", "yuv420p"), ("libx265", "yuv420p10le")], ids=["h264", "hevc10"])
def test_variable_frame_rate_keeps_every_frames_time(identity_model: Path, tmp_path: Path, capsys, codec: str,
                                                     pix_fmt: str) -> None:
    """A phone's clip: 20 frames 1/25 s apart, then 15 frames 1/12.5 s apart. Each frame comes out
    at its own time (not evenly spaced at the 18.6-fps average), the sound as long."""
    source = write_timed_clip(tmp_path / "phone.mp4", codec=codec, pix_fmt=pix_fmt)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--style", str(identity_model), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    want = [tick / 50 for tick in VFR_TICKS]
    assert frame_times(source) == pytest.approx(want, abs=1e-4)
    assert frame_times(target) == pytest.approx(want, abs=1e-4)
    assert (report["frames"], report["duration"]) == (35, pytest.approx(2.0))
    (_, _, seconds_out), = streams(target)["audio"]
    assert seconds_out == pytest.approx(streams(source)["audio"][0][2], abs=0.03)


def _tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range


def _decoded_as(path: Path, tags: tuple[int, int, int, int]) -> np.ndarray:
    """The first frame as a player decodes it by ``tags`` (matrix and range), as float BGR."""
    from rtstyle.colorspace import ACCURATE

    swscale = {1: "itu709", 5: "itu601", 6: "itu601", 9: "bt2020"}
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return frame.reformat(format="bgr24", src_colorspace=swscale[tags[0]], src_color_range=tags[3],
                              dst_color_range=2, interpolation=ACCURATE).to_ndarray().astype(float)


BT709, BT601 = (1, 1, 1, 1), (6, 6, 6, 1)  # matrix, primaries, transfer, range (1: limited)
TAG_CASES = [  # id, size, the input's colour, whether it says so, the output's tags
    ("HD untagged", (1280, 720), BT709, False, BT709),  # as players guess: BT.709 from 720 lines up
    ("SD untagged", (128, 72), BT601, False, BT601),
    ("SD BT.709", (128, 72), BT709, True, BT709),
    ("HD BT.601", (1280, 720), BT601, True, BT601),
    ("HD BT.709 full range", (1280, 720), (1, 1, 1, 2), True, BT709),
]


@pytest.mark.parametrize("size, given, tagged, want", [c[1:] for c in TAG_CASES], ids=[c[0] for c in TAG_CASES])
def test_output_is_tagged_as_it_was_written(identity_model: Path, tmp_path: Path, size: tuple[int, int],
                                            given: tuple[int, int, int, int], tagged: bool,
                                            want: tuple[int, int, int, int]) -> None:
    """BT.709 for HD and the input's own SDR colour otherwise, range included; a player that decodes
    by the tags sees the input's colours (through a network that changes nothing; decoded by the
    other matrix, green and red would be 4-6 levels off on average)."""
    source = write_timed_clip(tmp_path / "in.mp4", (0, 1), time_base=Fraction(1, 25), width=size[0],
                              height=size[1], colour=given, tagged=tagged, audio=False)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--style", str(identity_model), "--no-stabilize",
                 "--quiet"]) == 0
    assert _tags(target) == want
    painted, shown = _decoded_as(target, _tags(target)), _decoded_as(source, given)
    assert np.abs(painted.mean(axis=(0, 1)) - shown.mean(axis=(0, 1))).max() < 1
    assert np.abs(painted - shown).mean() < 2.5


def _swapping_model(tmp_path: Path) -> Path:
    """A network that paints red as blue and blue as red: a change of colour the pipeline must carry
    through exactly in every colour matrix (a network that changes nothing, or one linear in colour
    such as a negative, would hide a wrong one)."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["n", "h", "w", 3]
    order = helper.make_tensor("order", TensorProto.INT64, [3], [2, 1, 0])
    graph = helper.make_graph([helper.make_node("Gather", ["frames", "order"], ["stylized"], axis=3)], "swap",
                              [helper.make_tensor_value_info("frames", TensorProto.UINT8, shape)],
                              [helper.make_tensor_value_info("stylized", TensorProto.UINT8, shape)], [order])
    path = tmp_path / "swap.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


@pytest.mark.parametrize("size, colour", [((1280, 720), BT709), ((960, 544), BT601)], ids=["HD BT.709", "SD BT.601"])
def test_video_paints_what_the_engine_paints_frame_by_frame(tmp_path: Path, size: tuple[int, int],
                                                            colour: tuple[int, int, int, int]) -> None:
    """`rtstyle video` keeps its frames as the decoder's YUV and adds the painting's difference to each
    plane (rtstyle.strokes.enlarge_i420): what a player shows is what Engine.stylize paints of the
    decoded frame, in each colour matrix. (Measured: channel means within 0.18 levels, 0.76-0.79 a
    pixel apart; with BT.709's matrix for BT.601 frames the means were 2.5 levels off.)"""
    from rtstyle.engine import EngineConfig

    model = _swapping_model(tmp_path)
    source = write_timed_clip(tmp_path / "in.mp4", (0, 1, 2), time_base=Fraction(1, 25), width=size[0],
                              height=size[1], colour=colour, audio=False)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--style", str(model), "--no-stabilize", "--quiet"]) == 0
    assert _tags(target) == colour
    want = Engine([str(model)], EngineConfig(device="cpu")).stylize(_decoded_as(source, colour).astype(np.uint8))
    got = _decoded_as(target, colour)
    assert np.abs(got.mean(axis=(0, 1)) - want.mean(axis=(0, 1))).max() < 1
    assert np.abs(got - want).mean() < 2


def test_hlg_comes_back_close_to_its_sdr_source(identity_model: Path, tmp_path: Path, caplog) -> None:
    """An HLG (BT.2020, 10-bit HEVC) clip made from an SDR one comes out as that SDR clip through a
    network that changes nothing: same brightness, contrast and colour, not washed out or dim.
    (Measured: channel means within 4.5 levels, where HLG read as SDR is 28 off and FFmpeg's own
    perceptual tone mapping 35; the 4:2:0 chroma of a BT.2020 HLG signal costs some of it.)"""
    from rtstyle.synthetic import scene

    ticks = tuple(range(4))
    source = write_timed_clip(tmp_path / "hlg.mp4", ticks, time_base=Fraction(1, 25), hlg=True, audio=False)
    assert _tags(source) == (9, 9, 18, 1)
    target = tmp_path / "out.mp4"
    assert main(["video", str(source), str(target), "--style", str(identity_model), "--no-stabilize",
                 "--quiet"]) == 0
    assert "tone-mapped to SDR BT.709" in caplog.text and _tags(target) == BT709
    with VideoReader(target) as reader:
        got = np.stack(list(reader)).astype(float)
    want = np.stack([scene(i, 128, 72) for i in ticks]).astype(float)
    for channel in range(3):  # B, G, R
        assert got[..., channel].mean() == pytest.approx(want[..., channel].mean(), abs=6)
        assert got[..., channel].std() == pytest.approx(want[..., channel].std(), rel=0.06)
    assert np.abs(got - want).mean() < 12


def test_frames_cross_the_codec_boundary_in_their_own_colours() -> None:
    picture = scene(3, 160, 96)
    picture[:40, :40] = (255, 0, 0)  # blue in BGR
    frame = yuv_frame(picture)
    assert frame.format.name == "yuv420p"  # what the VP8 encoder takes without converting again
    back = bgr_image(frame)
    assert back.shape == picture.shape
    assert np.abs(back.astype(np.int16) - picture).mean() < 4
    assert tuple(back[20, 20]) == pytest.approx((255, 0, 0), abs=8)
    odd = bgr_image(yuv_frame(picture[:-1, :-1]))  # odd sides take PyAV's own conversion
    assert odd.shape == (95, 159, 3)
