"""Shared fixtures: tiny random-weight style networks and tiny synthetic clips.

Nothing here needs a network connection, a camera, a GPU or ../shared.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import av
import numpy as np
import onnxruntime as ort
import pytest
from av.video.reformatter import VideoReformatter

from rtstyle import providers
from rtstyle.providers import CPU, CUDA, TENSORRT

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]  # the repository, from any test folder
MODELS = ROOT / "models"  # the shipped styles
SHARED = ROOT.parent / "shared"
TINY_STYLES = ("tiny_a", "tiny_b", "tiny_c")


def _export_tiny(folder: Path, name: str, seed: int, precision: str = "fp16") -> Path:
    torch = pytest.importorskip("torch")
    from rtstyle.training.onnx_export import export_onnx
    from rtstyle.training.transformer_net import TransformerNet

    torch.manual_seed(seed)
    net = TransformerNet(channels=(8, 16, 16), n_residual=1).eval()
    with torch.no_grad():  # random affine norms so that each tiny style looks clearly different
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-1.0, 1.0)
        net.deconv3.conv2d.bias.copy_(torch.tensor([60.0, 120.0, 180.0]).roll(seed))
    # stroke_size 4: the tiny test frames are painted at a small working size (120² pixels), so tests stay quick
    meta = {"style": name, "painting": f"Tiny {name}", "artist": "random weights", "year": "2026",
            "license": "test fixture", "stroke_size": "4"}
    return export_onnx(net, folder / f"{name}.onnx", precision=precision, metadata=meta)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with three tiny fp16 style models (8/16/16 channels, one residual block)."""
    folder = tmp_path_factory.mktemp("models")
    for seed, name in enumerate(TINY_STYLES):
        _export_tiny(folder, name, seed)
    return folder


@pytest.fixture()
def tiny_models(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Makes the tiny models the only installed styles; returns their names."""
    monkeypatch.setenv("RTSTYLE_MODELS", str(tiny_model_dir))
    monkeypatch.setattr("rtstyle.models.model_dirs", lambda: [tiny_model_dir])
    return list(TINY_STYLES)


@pytest.fixture()
def clip(tmp_path: Path):
    """Factory for tiny synthetic clips: ``clip(name, **write_clip options) -> Path``."""
    from rtstyle.synthetic import write_clip

    def make(name: str = "in.mp4", **options: object) -> Path:
        return write_clip(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not present")


# Frame times of a phone's variable-rate clip (issue 31): 20 frames 1/25 s apart, then 15 frames 1/12.5 s apart.
VFR_TICKS = tuple(2 * i for i in range(20)) + tuple(40 + 4 * i for i in range(15))  # in 1/50 s


def write_timed_clip(path: Path, ticks: tuple[int, ...] = VFR_TICKS, *, time_base: Fraction = Fraction(1, 50),
                     width: int = 128, height: int = 72, codec: str = "libx264", pix_fmt: str = "yuv420p",
                     hlg: bool = False,
                     colour: tuple[int, int, int, int] | None = None, tagged: bool = True, audio: bool = True,
                     gop: int = 250) -> Path:
    """:func:`~rtstyle.synthetic.scene` frame ``i`` shown at ``ticks[i]`` × ``time_base`` (an AAC tone
    as long). ``colour``: (matrix, primaries, transfer, range) to convert with, and to tag the file
    with unless not ``tagged``. ``hlg``:
    10-bit HEVC in HLG/BT.2020, the SDR BT.709 scene mapped by FFmpeg's swscale as ITU-R BT.2408
    maps SDR into HLG (SDR white at HLG 75%)."""
    from rtstyle.colorspace import ColourTags, tag
    from rtstyle.synthetic import _write_tone, scene

    tags = ColourTags(9, 9, 18, 1) if hlg else ColourTags(*colour) if colour else None
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx265" if hlg else codec, rate=Fraction(len(ticks)) / (ticks[-1] * time_base),
                             options={"g": str(gop), "keyint_min": str(gop), "x265-params": "log-level=error"})
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p10le" if hlg else pix_fmt
        video.codec_context.time_base = time_base
        if tags and tagged:
            tag(video.codec_context, tags)
        tone = c.add_stream("aac", rate=48000, layout="stereo") if audio else None
        sws = VideoReformatter()
        for i, tick in enumerate(ticks):
            frame = av.VideoFrame.from_ndarray(scene(i, width, height), format="bgr24")
            if hlg:
                frame = _to_hlg(frame)
            elif tags:
                frame = sws.reformat(frame, format=pix_fmt, dst_colorspace=_SWS[tags.matrix],
                                     dst_color_range=tags.range, src_color_range=2)
                if tagged:
                    tag(frame, tags)
                else:
                    frame.colorspace, frame.color_range = 2, 0  # unspecified
            frame.pts = tick
            c.mux(video.encode(frame))
        c.mux(video.encode(None))
        if tone is not None:  # as long as the video: its last frame lasts as long as the one before
            _write_tone(c, tone, float((2 * ticks[-1] - ticks[-2]) * time_base))
    return path


_SWS = {1: 1, 5: 5, 6: 5, 9: 9}  # AVCOL_SPC → swscale's SWS_CS numbers


def _to_hlg(frame: av.VideoFrame) -> av.VideoFrame:
    frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range, frame.pts = 1, 1, 1, 2, 0
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=frame.width, height=frame.height, format="bgr24", time_base=Fraction(1, 50)),
             graph.add("scale", "out_transfer=arib-std-b67:out_primaries=bt2020:out_color_matrix=bt2020nc:"
                                "out_range=tv:intent=relative_colorimetric"),
             graph.add("format", "yuv420p10le"), graph.add("buffersink")]
    for a, b in zip(nodes, nodes[1:], strict=False):
        a.link_to(b)
    graph.configure()
    graph.push(frame)
    return graph.pull()


@pytest.fixture()
def identity_model(tmp_path: Path) -> Path:
    """A one-node network that returns its frames unpainted: what comes out is the pipeline's own doing."""
    from onnx import TensorProto, helper

    shape = ["n", "h", "w", 3]
    graph = helper.make_graph([helper.make_node("Identity", ["frames"], ["stylized"])], "identity",
                              [helper.make_tensor_value_info("frames", TensorProto.UINT8, shape)],
                              [helper.make_tensor_value_info("stylized", TensorProto.UINT8, shape)])
    path = tmp_path / "identity.onnx"
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def close_to(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two images are the same up to rounding (2 levels in 255)."""
    return a.shape == b.shape and int(np.abs(a.astype(np.int16) - b).max()) <= 2


def frame_times(path: Path) -> list[float]:
    """Every decoded frame's presentation time in seconds, in order."""
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def streams(path: Path) -> dict[str, object]:
    """What a player sees: the container (MP4's brand or the format), the video's codec and pixel
    format, its decoded frame count and frame rate, and (codec, channels, seconds) of each audio stream."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        container = c.metadata.get("major_brand", c.format.name.split(",")[0]).strip()
        video = (v.codec_context.name, v.codec_context.pix_fmt)
        frames, fps = sum(1 for _ in c.decode(v)), v.average_rate
    audio = []
    with av.open(str(path)) as c:
        for a in c.streams.audio:
            samples = sum(f.samples for f in c.decode(a))
            audio.append((a.codec_context.name, len(a.layout.channels), samples / a.rate))
            c.seek(0)
    return {"container": container, "video": video, "frames": frames, "fps": fps, "audio": audio}


def wait_for(client: TestClient, job_id: str, states: tuple[str, ...], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


# --- onnxruntime as on a GPU machine (test_providers.py, test_gpu_check.py) ---------------------------


REAL_SESSION = ort.InferenceSession


class FakeGpu:
    """onnxruntime as on a machine whose GPU providers load; ``cpu_ops`` are op types they leave to the CPU."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, cpu_ops: tuple[str, ...] = (), fail: str | None = None):
        self.cpu_ops, self.fail = cpu_ops, fail
        self.sessions: list[_FakeSession] = []
        self.events: list[str] = []  # "preload" and "session", in the order they happened
        monkeypatch.setattr(ort, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
        monkeypatch.setattr(ort, "InferenceSession", self.session)
        monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: self.events.append("preload"))
        monkeypatch.setattr("rtstyle.engine.nvidia_driver_present", lambda: True)
        monkeypatch.setattr("rtstyle.providers.tensorrt_loadable", lambda: True)
        providers.preload_gpu_libraries.cache_clear()
        monkeypatch.setattr(providers.preload_gpu_libraries, "cache_clear", lambda: None)

    def session(self, model: bytes, options: ort.SessionOptions, providers: list, **kwargs: object) -> _FakeSession:
        self.events.append("session")
        if self.fail:
            raise RuntimeError(self.fail)
        made = _FakeSession(self, model, options, providers, kwargs)
        self.sessions.append(made)
        return made

    def options(self, name: str) -> list[dict]:
        """The options each session was given for provider ``name``."""
        return [s.provider_options[name] for s in self.sessions if name in s.provider_options]


class _FakeSession:
    def __init__(self, fake: FakeGpu, model: bytes, options: ort.SessionOptions, chain: list, kwargs: dict):
        self._fake, self._real = fake, REAL_SESSION(model, options, providers=[CPU])
        self.providers = [p if isinstance(p, str) else p[0] for p in chain]
        self.provider_options = {p[0]: p[1] for p in chain if isinstance(p, tuple)}
        self.options, self.kwargs = options, kwargs

    def get_providers(self) -> list[str]:
        return self.providers

    def get_provider_graph_assignment_info(self) -> list[SimpleNamespace]:
        nodes = [n for sub in self._real.get_provider_graph_assignment_info() for n in sub.get_nodes()]
        gpu = [n for n in nodes if n.op_type not in self._fake.cpu_ops]
        cpu = [n for n in nodes if n.op_type in self._fake.cpu_ops]
        return [SimpleNamespace(ep_name=ep, get_nodes=lambda part=part: part)
                for ep, part in ((self.providers[0], gpu), (CPU, cpu)) if part]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)
