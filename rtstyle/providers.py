"""Execution providers for the GPU path: which ones, with which options, and where the nodes went.

The engine (:mod:`rtstyle.engine`) asks this module for three things:

* :func:`provider_chain`: the providers for one session, listed explicitly and in order
  (TensorRT → CUDA → CPU), so nodes TensorRT rejects run on CUDA rather than on the CPU with a
  full-frame copy each way. onnxruntime's silent fallbacks stay off: :data:`SESSION_KWARGS`.
* :func:`tensorrt_options`: one engine cache per model and precision. onnxruntime names cached
  TensorRT engines from the model's name and node names, not its weights
  (https://github.com/microsoft/onnxruntime/issues/6455); every rtstyle network of one shape has
  the same node names, so without a prefix of its own every style would paint as the first one.
* :func:`preload_gpu_libraries`: CUDA, cuDNN and TensorRT libraries installed from pip
  (``pip install 'rtstyle[cuda]'``) have no RUNPATH to be found by; they are loaded once before
  the first GPU session.

No function here needs a GPU: tests fake onnxruntime's providers and record what they are given.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import io
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from tqdm import tqdm

log = logging.getLogger(__name__)

INPUT_NAME = "frames"  # the model contract's input (rtstyle.models.INPUT_NAME; not imported: no cycle)
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
# After a provider fails, onnxruntime's Python wrapper makes the session again on the CPU (and does
# the same at run time on an EP failure), printing a banner instead of raising.
SESSION_KWARGS = {"enable_fallback": 0}
RECORD_PLACEMENT = "session.record_ep_graph_assignment_info"
MIN_SIDE = 16
TENSORRT_LIBRARY = "libnvinfer.so.10"  # the major version onnxruntime-gpu 1.31's TensorRT provider links


@dataclass(frozen=True, kw_only=True)
class TrtProfile:
    """The batch × height × width range a TensorRT engine is built for, and the shape it is tuned for.

    A frame outside ``min``–``max`` cannot run on that engine; one far from ``opt`` runs slower. The
    engine sends frames at the working size (rtstyle.strokes), not the video's: the default is tuned
    for stroke size 1 (640×360 plus a 32-pixel mirrored margin a side, the widest ``edge_pad``) in
    batches of 8, and reaches stroke size 0.25 (2560×1440 plus margins) in either orientation.
    """

    opt: tuple[int, int, int] = (8, 424, 704)
    max: tuple[int, int, int] = (8, 2688, 2688)
    min: tuple[int, int, int] = (1, MIN_SIDE, MIN_SIDE)

    @classmethod
    def for_frames(cls, sizes: Iterable[tuple[int, int]], batch: int) -> TrtProfile:
        """The profile for frames of these (height, width) sizes in batches of up to ``batch``.

        The first size is the one to tune for; every size is rounded up to the model's multiple of 4
        and counted in both orientations (a rotated or portrait video sends H > W).
        """
        padded = [(_pad4(h), _pad4(w)) for h, w in sizes]
        if not padded or batch < 1:
            raise ValueError("a TensorRT profile needs at least one frame size and a batch of at least 1")
        side = max(max(hw) for hw in padded)
        return cls(opt=(batch, *padded[0]), max=(batch, side, side))

    def options(self) -> dict[str, str]:
        """onnxruntime's ``trt_profile_*_shapes`` options for the ``frames`` input."""
        return {f"trt_profile_{name}_shapes": f"{INPUT_NAME}:{'x'.join(map(str, shape))}x3"
                for name, shape in (("min", self.min), ("opt", self.opt), ("max", self.max))}


def _pad4(side: int) -> int:
    return max(MIN_SIDE, -(-side // 4) * 4)


def cache_prefix(model_bytes: bytes, precision: str, profile: TrtProfile) -> str:
    """A TensorRT engine cache name that changes with the weights, the precision and the profile (#6455)."""
    digest = hashlib.sha256(model_bytes)
    digest.update(f"{precision} {profile.options()}".encode())
    return f"rtstyle_{digest.hexdigest()[:20]}"


def tensorrt_options(model_bytes: bytes, *, precision: str, cache_dir: Path, profile: TrtProfile
                     ) -> dict[str, object]:
    """TensorRT provider options: fp16 or not, engine and timing caches, and the shape profile."""
    cache = cache_dir / "tensorrt"
    cache.mkdir(parents=True, exist_ok=True)
    prefix = cache_prefix(model_bytes, precision, profile)
    return {"trt_fp16_enable": precision == "fp16", "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache), "trt_engine_cache_prefix": prefix, "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache), **profile.options()}


CUDA_OPTIONS: dict[str, object] = {"cudnn_conv_algo_search": "HEURISTIC"}


def provider_chain(provider: str, first_options: dict[str, object] | None = None) -> list[str | tuple[str, dict]]:
    """``provider`` first, with its options, then the ones below it: TensorRT → CUDA → CPU."""
    order = [TENSORRT, CUDA, CPU]
    chain: list[str | tuple[str, dict]] = []
    for name in order[order.index(provider):]:
        options = first_options if name == provider and first_options else CUDA_OPTIONS if name == CUDA else None
        chain.append((name, options) if options else name)
    return chain


def record_placement(options: ort.SessionOptions) -> None:
    """Ask onnxruntime to keep which provider took which node (read by :func:`placement`)."""
    options.add_session_config_entry(RECORD_PLACEMENT, "1")


def placement(session: ort.InferenceSession) -> dict[str, list[str]]:
    """Provider name → the ``op_type`` of every node it runs (empty when not recorded)."""
    try:
        subgraphs = session.get_provider_graph_assignment_info()
    except Exception:  # an older onnxruntime, or recording not enabled (its errors have no common base)
        return {}
    nodes: dict[str, list[str]] = {}
    for subgraph in subgraphs:
        nodes.setdefault(subgraph.ep_name, []).extend(node.op_type for node in subgraph.get_nodes())
    return nodes


def describe_cpu_nodes(provider: str, nodes: dict[str, list[str]]) -> str | None:
    """One line when a GPU session leaves nodes on the CPU (each costs a frame copy each way), else None."""
    on_cpu = nodes.get(CPU, [])
    if provider == CPU or not on_cpu:
        return None
    total = sum(len(v) for v in nodes.values())
    ops = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in sorted(Counter(on_cpu).items()))
    return f"{len(on_cpu)} of {total} nodes run on the CPU, not {provider} ({ops})"


@functools.cache
def preload_gpu_libraries() -> tuple[str, ...]:
    """Load pip-installed CUDA, cuDNN and TensorRT libraries once; returns the TensorRT ones loaded.

    onnxruntime's own ``preload_dlls`` finds CUDA and cuDNN in the ``nvidia-*`` packages; TensorRT's
    (``tensorrt-cu13-libs`` installs them into the ``tensorrt_libs`` package) it does not look for.
    """
    text = io.StringIO()
    with contextlib.redirect_stdout(text):  # preload_dlls prints what it cannot find, on stdout
        try:
            ort.preload_dlls()
        except Exception as exc:  # an older onnxruntime, or a directory it expects and cannot find
            log.info("onnxruntime.preload_dlls: %s", exc)
    if text.getvalue().strip():
        log.info("onnxruntime.preload_dlls: %s", " ".join(text.getvalue().split()))
    return tuple(_load_tensorrt_libs())


def _load_tensorrt_libs() -> Iterator[str]:
    spec = importlib.util.find_spec("tensorrt_libs")
    if spec is None or not spec.submodule_search_locations:
        return
    for folder in spec.submodule_search_locations:
        for lib in sorted(Path(folder).glob("libnvinfer*.so*")):
            try:
                ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
                yield lib.name
            except OSError as exc:
                log.info("cannot preload %s: %s", lib, exc)


def onnxruntime_said(log_text: str) -> str:
    """onnxruntime's own error lines from a captured log, without colours, timestamps or source paths."""
    said = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log_text).splitlines():
        if not re.search(r"\[[EW]:onnxruntime|EP Error|Error|error", line):
            continue
        line = re.sub(r"^.*?\[[EW]:onnxruntime:[^\]]*\]\s*", "", line)
        line = re.sub(r"(\S+\.(cc|h|cpp):\d+\s+)+", "", line)  # source locations
        line = re.sub(r"^.*?\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)
        line = re.sub(r"^[\w:<>&*, ]+\([^)]*\)\s+", "", line)  # the C++ function it came from
        line = re.sub(r"/\S+/(lib\S+\.so)", r"\1", line)  # library paths: their names say enough
        if line.strip() and line.strip() not in said:
            said.append(line.strip())
    return "; ".join(said)


@functools.cache
def tensorrt_loadable() -> bool:
    """Whether TensorRT's library loads (else onnxruntime's TensorRT provider fails at once, building nothing)."""
    preload_gpu_libraries()
    try:
        ctypes.CDLL(TENSORRT_LIBRARY)
    except OSError:
        return False
    return True


def engine_is_cached(cache_dir: Path, prefix: str) -> bool:
    return any((cache_dir / "tensorrt").glob(f"{prefix}*.engine"))


@contextlib.contextmanager
def building_notice(style: str, cache_dir: Path, prefix: str) -> Iterator[None]:
    """Say on stderr (through logging) that a TensorRT engine is being built, with the time it took.

    Only when this model and precision have no cached engine: the first run of a style takes minutes,
    later ones load the cache in seconds. A terminal also gets a line counting the seconds.
    """
    if engine_is_cached(cache_dir, prefix) or not tensorrt_loadable():
        yield
        return
    log.warning("no cached TensorRT engine for %s yet: building one takes minutes the first time (cached in %s)",
                style, cache_dir / "tensorrt")
    began = time.monotonic()
    # onnxruntime's log is captured from file descriptor 2 while the session is made: count on a copy of it.
    with open(os.dup(2), "w", closefd=True) as terminal, \
            tqdm(desc=f"building the TensorRT engine for {style}", bar_format="{desc}: {elapsed}", leave=False,
                 file=terminal, disable=not terminal.isatty()) as bar:
        done = threading.Event()
        ticker = threading.Thread(target=_tick, args=(bar, done), daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join(timeout=2)
    log.warning("built the TensorRT engine for %s in %.0f s", style, time.monotonic() - began)


def _tick(bar: tqdm, done: threading.Event) -> None:
    while not done.wait(1.0):
        bar.refresh()
