"""The inference engine: onnxruntime sessions for one or more styles.

Tensor contract (the same for every style model, see ``rtstyle/training/onnx_export.py``):

* ``Engine.stylize`` takes uint8 BGR frames, N×H×W×3 (or one H×W×3 frame), any H and W,
  OpenCV's own layout, and returns uint8 BGR frames of exactly the same shape.
* The model itself needs H and W to be multiples of 4 (two stride-2 convolutions, then two 2×
  upsamplings) and at least 16: frames are padded by mirroring their edge pixels
  (``numpy.pad(mode="symmetric")``) and the result is cropped back, so borders keep their
  texture instead of picking up a black frame. A model whose metadata names an ``edge_pad``
  (pixels) gets that much mirrored picture on every side too: a network that paints a band
  along the borders paints it outside the frame (``python -m export.edge_pad`` measures it).
* All float work (colour order, scaling to 0–255, rounding) happens inside the graph; the host
  only pads and resizes.
* The network paints at a working size set by the stroke size, not at the frame's own size, and
  the painting is brought back to the frame's size with the frame's fine detail
  (:mod:`rtstyle.strokes`): the same look at 360p and at 4K, and work and memory per frame
  bounded by the stroke size, not by the frame.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtstyle import providers
from rtstyle.errors import InputError, ModelError, ProviderError, first_line
from rtstyle.models import INPUT_NAME, StyleInfo, find_style, load_model
from rtstyle.precision import graph_precision, to_fp16, to_fp32
from rtstyle.providers import TrtProfile
from rtstyle.strokes import check_stroke, enlarge, shrink, working_size

log = logging.getLogger(__name__)

PAD_MULTIPLE = 4
MIN_SIDE = 16
DEVICES = ("auto", "cpu", "cuda", "tensorrt")
PRECISIONS = ("auto", "fp16", "fp32")
_PROVIDER = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtstyle"


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """How to run the styles. ``auto`` device tries TensorRT, then CUDA, then the CPU."""

    device: str = "auto"
    precision: str = "auto"
    stroke: float | None = None  # stroke size (rtstyle.strokes); None: each model's own default
    threads: int = 0
    # onnxruntime's idle CPU threads busy-wait for the next operator: fastest when inference has
    # the cores to itself, a stall when other busy threads share them (see rtstyle.live.LIVE_SPIN).
    spin: bool = True
    cache_dir: Path = field(default_factory=_cache_dir)
    io_binding: bool | None = None  # None: on for GPU providers (device buffers reused across calls)
    # The frame shapes TensorRT engines are built and tuned for: TrtProfile.for_frames(sizes, batch) from the
    # sizes the engine will be sent (the default suits `rtstyle video` at 1080p).
    trt_profile: TrtProfile = field(default_factory=TrtProfile)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ProviderError(f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")
        if self.precision not in PRECISIONS:
            raise ProviderError(f"unknown precision {self.precision!r} (choose from {', '.join(PRECISIONS)})")
        if self.stroke is not None:
            check_stroke(self.stroke)


class Engine:
    """Stylizes batches of frames with one of several loaded styles; see the module docstring."""

    def __init__(self, styles: Sequence[StyleInfo | str], config: EngineConfig | None = None):
        if not styles:
            raise InputError("an engine needs at least one style")
        self.config = config or EngineConfig()
        self.styles = [s if isinstance(s, StyleInfo) else find_style(s) for s in styles]
        self.cpu_nodes: dict[str, str] = {}  # style → one line on the nodes a GPU session left on the CPU
        self.provider = self._choose_provider(self.styles[0])
        self.precision = self._precision()
        self._sessions = {style.name: self._open(style) for style in self.styles}
        self.style = self.styles[0].name

    def add(self, style: StyleInfo | str) -> str:
        """Load one more style (a :class:`ModelError` if it breaks the contract); returns its name."""
        info = style if isinstance(style, StyleInfo) else find_style(style)
        if info.name not in self._sessions:
            self._sessions[info.name] = self._open(info)
            self.styles.append(info)
        return info.name

    @property
    def style_names(self) -> list[str]:
        return [s.name for s in self.styles]

    def select(self, name_or_index: str | int) -> str:
        """Make another loaded style current (no reload); returns its name."""
        names = self.style_names
        name = names[name_or_index % len(names)] if isinstance(name_or_index, int) else name_or_index
        if name not in self._sessions:
            raise InputError(f"style {name!r} is not loaded (loaded: {', '.join(names)})")
        self.style = name
        return name

    def stylize(self, frames: np.ndarray, style: str | None = None, *, stroke: float | None = None) -> np.ndarray:
        """uint8 BGR N×H×W×3 (or H×W×3) → uint8 BGR of the same shape.

        ``stroke``: the stroke size for this call (default: the config's, else the model's own).
        """
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
            raise InputError(f"frames must be uint8 N×H×W×3 BGR, got {frames.dtype} {frames.shape}")
        name = style or self.style
        h, w = batch.shape[1:3]
        size = working_size(h, w, self.stroke_size(name, stroke))
        work = batch if size == (h, w) else shrink(batch, size)
        out = self.paint(work, name)
        if size != (h, w):
            out = enlarge(out, work, batch)
        return out[0] if single else np.ascontiguousarray(out)

    def paint(self, frames: np.ndarray, style: str | None = None) -> np.ndarray:
        """The network itself on uint8 BGR N×H×W×3 frames at their own size (no working size):
        padded (``edge_pad``, multiples of 4) and cropped back."""
        name = style or self.style
        h, w = frames.shape[1:3]
        m = self._info(name).edge_pad
        return self._sessions[name].run(_pad(frames, m))[:, m : m + h, m : m + w]

    def stroke_size(self, style: str | None = None, stroke: float | None = None) -> float:
        """The stroke size ``style`` is painted with: ``stroke``, else the config's, else the model's default."""
        if stroke is not None:
            return check_stroke(stroke)
        if self.config.stroke is not None:
            return self.config.stroke
        return self._info(style or self.style).default_stroke

    def _info(self, name: str) -> StyleInfo:
        return next(s for s in self.styles if s.name == name)

    def _open(self, style: StyleInfo, provider: str | None = None) -> _PlainRunner:
        provider = provider or self.provider
        model = load_model(style.path)
        if self.precision == "fp16" and provider != _PROVIDER["tensorrt"]:
            model = to_fp16(model) if graph_precision(model) == "fp32" else model
        else:  # TensorRT builds fp16 engines from the fp32 graph itself (trt_fp16_enable)
            model = to_fp32(model) if graph_precision(model) == "fp16" else model
        data = model.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.threads
        if not self.config.spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # With -v on a GPU, onnxruntime's verbose log says which nodes each provider took (the graph
        # partitioning: reflection padding and instance norm should stay inside TensorRT).
        partitioning = provider != _PROVIDER["cpu"] and log.isEnabledFor(logging.INFO)
        options.log_severity_level = 1 if partitioning else 3
        if provider != _PROVIDER["cpu"]:
            providers.preload_gpu_libraries()
            providers.record_placement(options)
        chain = self._with_options(provider, data)
        with self._building(style, chain), _captured_onnxruntime_log() as log_text:
            try:
                session = ort.InferenceSession(data, options, providers=chain, **providers.SESSION_KWARGS)
            except Exception as exc:  # onnxruntime's own errors (InvalidGraph, Fail, ...) have no common base
                if provider != _PROVIDER["cpu"] and _GPU_FAILURE.search(str(exc)):
                    raise ProviderError(_missing_provider_message(_device(provider), f"{log_text.getvalue()}\n"
                                                                  f"[E:onnxruntime:] {exc}")) from exc
                raise ModelError(f"{style.path}: onnxruntime cannot load it ({first_line(exc)})") from exc
        if partitioning:
            placed = [line for line in log_text.getvalue().splitlines() if "node" in line.lower()]
            log.info("onnxruntime on %s:\n%s", provider, "\n".join(placed))
        if session.get_providers()[0] != provider:
            raise ProviderError(_missing_provider_message(_device(provider), log_text.getvalue()))
        self._check_placement(style, provider, session)
        device = "cpu" if provider == _PROVIDER["cpu"] else "cuda"
        use_binding = self.config.io_binding if self.config.io_binding is not None else device == "cuda"
        runner = _BoundRunner(session, device) if use_binding else _PlainRunner(session)
        try:
            out = runner.run(np.zeros((1, 64, 64, 3), np.uint8))  # warm-up, and a check of what comes out
        except Exception as exc:
            raise ModelError(f"{style.path}: onnxruntime cannot run it ({first_line(exc)})") from exc
        if out.shape != (1, 64, 64, 3) or out.dtype != np.uint8:
            raise ModelError(f"{style.path}: breaks the model contract: 1×64×64×3 uint8 frames in gave "
                             f"{out.dtype} {'×'.join(map(str, out.shape))} out")
        log.info("loaded %s on %s (%s)", style.name, provider, self.precision)
        return runner

    def _choose_provider(self, probe: StyleInfo) -> str:
        """The asked-for provider, or for ``auto`` the first of TensorRT, CUDA that loads, else CPU."""
        if self.config.device != "auto":
            return _PROVIDER[self.config.device]
        available = ort.get_available_providers() if nvidia_driver_present() else []
        for name in (_PROVIDER["tensorrt"], _PROVIDER["cuda"]):
            if name in available:
                self.provider, self.precision = name, self._precision(name)
                try:
                    self._open(probe, name)
                    return name
                except (ProviderError, ModelError) as exc:
                    log.info("auto device: %s unusable: %s", name, exc)
        return _PROVIDER["cpu"]

    def _precision(self, provider: str | None = None) -> str:
        if self.config.precision != "auto":
            return self.config.precision
        return "fp32" if (provider or self.provider) == _PROVIDER["cpu"] else "fp16"

    def _with_options(self, provider: str, model_bytes: bytes) -> list[str | tuple[str, dict]]:
        """The providers for one session, ``provider`` first (TensorRT → CUDA → CPU, see rtstyle.providers)."""
        if provider != _PROVIDER["tensorrt"]:
            return providers.provider_chain(provider)
        # One profile for every frame size in range (no rebuild per size); a cache of its own per model.
        profile = self.config.trt_profile
        return providers.provider_chain(provider, providers.tensorrt_options(
            model_bytes, precision=self.precision, cache_dir=self.config.cache_dir, profile=profile))

    def _building(self, style: StyleInfo, chain: list[str | tuple[str, dict]]) -> contextlib.AbstractContextManager:
        """The first build of a TensorRT engine takes minutes: say so rather than hang in silence."""
        name, options = chain[0] if isinstance(chain[0], tuple) else (chain[0], {})
        if name != _PROVIDER["tensorrt"]:
            return contextlib.nullcontext()
        return providers.building_notice(style.name, self.config.cache_dir, str(options["trt_engine_cache_prefix"]))

    def _check_placement(self, style: StyleInfo, provider: str, session: ort.InferenceSession) -> None:
        """A GPU session that leaves nodes on the CPU copies frames each way: one line says so."""
        line = None if provider == _PROVIDER["cpu"] else providers.describe_cpu_nodes(provider,
                                                                                     providers.placement(session))
        if line is None:
            return
        self.cpu_nodes[style.name] = line
        log.log(logging.WARNING if self.config.device != "auto" else logging.INFO, "%s: %s", style.name, line)


class _PlainRunner:
    """``session.run`` with numpy in and out."""

    def __init__(self, session: ort.InferenceSession):
        self.session = session

    def run(self, frames: np.ndarray) -> np.ndarray:
        return self.session.run(None, {INPUT_NAME: frames})[0]


class _BoundRunner(_PlainRunner):
    """IO binding: input and output buffers live on the device, allocated once per shape.

    Only the uint8 frames cross the bus (3 bytes a pixel each way); the graph does the float work.
    """

    def __init__(self, session: ort.InferenceSession, device: str):
        super().__init__(session)
        self.device = device
        self.output_name = session.get_outputs()[0].name
        self._buffers: dict[tuple[int, ...], tuple[ort.OrtValue, ort.OrtValue, ort.IOBinding]] = {}

    def run(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape not in self._buffers:
            x = ort.OrtValue.ortvalue_from_shape_and_type(frames.shape, np.uint8, self.device, 0)
            y = ort.OrtValue.ortvalue_from_shape_and_type(frames.shape, np.uint8, self.device, 0)
            binding = self.session.io_binding()
            binding.bind_ortvalue_input(INPUT_NAME, x)
            binding.bind_ortvalue_output(self.output_name, y)
            self._buffers = {frames.shape: (x, y, binding)}  # keep one shape: sizes rarely change mid-run
        x, y, binding = self._buffers[frames.shape]
        x.update_inplace(np.ascontiguousarray(frames))
        self.session.run_with_iobinding(binding)
        out = y.numpy()  # from a device buffer: a new host array; from a host one: a view of it
        return out.copy() if self.device == "cpu" else out  # the buffer is reused by the next call


def likely_cpu(device: str) -> bool:
    """Whether ``device`` will run on the CPU, judged without loading a model."""
    return device == "cpu" or (device == "auto" and not nvidia_driver_present())


def auto_variant(device: str) -> str:
    """The network to run for ``--variant auto``: the fast one where inference will run on the CPU."""
    return "fast" if likely_cpu(device) else "full"


def nvidia_driver_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


@contextlib.contextmanager
def _captured_onnxruntime_log() -> Iterator[io.StringIO]:
    """Collect what onnxruntime writes while a session is made, instead of showing it.

    A provider that fails to load is reported by onnxruntime's C++ logger on file descriptor 2
    and by a ``print`` on stdout; the text names the missing library, which our error repeats.
    """
    text = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(text):
                yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.write(sink.read().decode(errors="replace"))


_GPU_FAILURE = re.compile(r"CUDA|cuda|cuDNN|cudnn|cublas|TensorRT|TRT|nvinfer|driver|GPU|\bEP\b")


def _device(provider: str) -> str:
    return next(k for k, v in _PROVIDER.items() if v == provider)


def _missing_provider_message(device: str, log_text: str = "") -> str:
    need = {"cuda": "an NVIDIA driver, onnxruntime-gpu and the CUDA and cuDNN libraries it was built for "
                    "(pip install 'rtstyle[cuda]')",
            "tensorrt": "an NVIDIA driver, onnxruntime-gpu, CUDA, cuDNN and TensorRT 10 libraries "
                        "(pip install 'rtstyle[tensorrt]' --extra-index-url https://pypi.nvidia.com)",
            "cpu": "onnxruntime"}[device]
    missing = sorted(set(re.findall(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", log_text)))
    found = f"; missing: {', '.join(missing)}" if missing else ""
    said = providers.onnxruntime_said(log_text)
    said = f"; onnxruntime said: {said}" if said else ""
    return (f"--device {device} was asked for but onnxruntime {ort.__version__} cannot run "
            f"{_PROVIDER[device]} here{found}; it needs {need}{said}")


def codec_threads() -> int:
    """Inference threads for a CPU that also decodes and encodes video (``rtstyle video``, local
    ``rtstyle batch``): every core but one. Two onnxruntime threads on two cores each wait for the
    other at every operator whenever the encoder has one of the cores: 1080p end to end ran 12.8-14.0
    fps with two and 16.7-17.2 with one, 4K 5.8-6.6 against 7.1-8.2 (docs/benchmarks.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def default_batch_size(provider: str) -> int:
    """Frames per inference call when the user does not say: 1 on a CPU, where batches are slower
    (their activations leave the caches: 65 fps at batch 1 against 34 at batch 4, fast network,
    640x360), 8 on a GPU."""
    return 1 if provider == "CPUExecutionProvider" else 8


def _pad(frames: np.ndarray, margin: int = 0) -> np.ndarray:
    """``margin`` mirrored pixels on every side, then more at the bottom and right up to the
    network's multiple of 4 (and its smallest side): one copy of the frames, or none."""
    h, w = frames.shape[1] + 2 * margin, frames.shape[2] + 2 * margin
    ph = max(MIN_SIDE, -(-h // PAD_MULTIPLE) * PAD_MULTIPLE) - h
    pw = max(MIN_SIDE, -(-w // PAD_MULTIPLE) * PAD_MULTIPLE) - w
    if margin == ph == pw == 0:
        return np.ascontiguousarray(frames)
    return np.pad(frames, ((0, 0), (margin, margin + ph), (margin, margin + pw), (0, 0)), mode="symmetric")
