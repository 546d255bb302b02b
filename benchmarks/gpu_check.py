"""Bring-up of the GPU path (issue 30), in one run of under 8 minutes:

    python benchmarks/gpu_check.py [--minutes 8] [--out gpu_check.json] [--style starry_night]

1. versions: GPU, driver, CUDA, onnxruntime, TensorRT;
2. where each node of a full and a fast network runs, per provider (TensorRT, CUDA);
3. pixels from CUDA and TensorRT against the CPU for two styles loaded in one engine (mean difference
   under 1 level; a large one for the second style only is the TensorRT engine-cache collision);
4. IO binding against plain runs over 50 random batches;
5. ``rtstyle video --json`` on a 1080p clip, with its stage seconds (needs PyAV; skipped without it);
6. the same full network as a per-frame fp32 PyTorch loop, the baseline (needs torch with CUDA);
7. fps at 640×360, 1280×720, 1920×1080 and 3840×2160, batch 1/4/8, fp16/fp32, per provider.

Each step prints its lines as it goes and the whole is written as JSON (``--out``). Steps that would
start after the time budget are skipped, saying so. Without an NVIDIA GPU it says so in one line
and exits 0. It runs from a clone without installing rtstyle (the repository root goes on sys.path).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the preflight runs before any of them is known to be there
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NEEDED = {"numpy": "numpy", "cv2": "opencv-python", "onnx": "onnx", "onnxruntime": "onnxruntime-gpu", "tqdm": "tqdm"}
SIZES = [(360, 640), (720, 1280), (1080, 1920), (2160, 3840)]
BATCHES = (1, 4, 8)
VIDEO = (1080, 1920, 5.0)  # height, width, seconds of the clip `rtstyle video` paints
PIXEL_TOLERANCE = 1.0  # mean absolute difference, levels of 255


def gpu_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def missing_modules() -> list[str]:
    return [package for module, package in NEEDED.items() if importlib.util.find_spec(module) is None]


def preflight() -> tuple[int, str] | None:
    """(exit status, the one line to print) when this machine cannot run the check, else None."""
    if not gpu_present():
        return 0, "gpu_check: no NVIDIA GPU here (no driver, no nvidia-smi): nothing to check"
    missing = missing_modules()
    if missing:
        return 2, f"gpu_check: missing Python packages: pip install {' '.join(missing)}"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return 2, (f"gpu_check: onnxruntime {ort.__version__} here is the CPU build; install the GPU one from the "
                   "folder holding its wheel: pip uninstall -y onnxruntime && pip install --no-index --find-links "
                   "WHEEL_DIR onnxruntime-gpu (CUDA 13 and cuDNN 9 from torch's nvidia-* packages are reused)")
    return None


class Budget:
    """Seconds left for the run; a step that would start after the deadline is skipped."""

    def __init__(self, minutes: float):
        self.deadline = time.monotonic() + minutes * 60

    def left(self) -> float:
        return self.deadline - time.monotonic()


def say(text: str) -> None:
    print(text, flush=True)


def frames(n: int, h: int, w: int) -> np.ndarray:
    """``n`` uint8 BGR frames of the shipped paintings' thumbnails, resized: real pictures, no PyAV needed."""
    import cv2
    import numpy as np

    pictures = [cv2.imread(str(p)) for p in sorted((ROOT / "models").glob("*.jpg"))]
    pictures = [p for p in pictures if p is not None] or [np.full((64, 64, 3), 128, np.uint8)]
    return np.stack([cv2.resize(pictures[i % len(pictures)], (w, h)) for i in range(n)])


def versions() -> dict[str, object]:
    import onnxruntime as ort

    from rtstyle import providers

    smi = shutil.which("nvidia-smi")
    gpu = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip() if smi else ""
    torch_cuda = None
    if importlib.util.find_spec("torch"):
        import torch

        torch_cuda = torch.version.cuda
    spec = importlib.util.find_spec("tensorrt_libs")
    trt = sorted(p.name for d in (spec.submodule_search_locations or []) for p in Path(d).glob("libnvinfer.so.*")) \
        if spec else []
    providers.preload_gpu_libraries()
    try:
        from onnxruntime.capi.build_and_package_info import cuda_version
    except ImportError:
        cuda_version = None
    return {"gpu": gpu, "onnxruntime": ort.__version__, "onnxruntime_cuda": cuda_version,
            "providers": ort.get_available_providers(), "torch_cuda": torch_cuda, "tensorrt_libs": trt,
            "tensorrt_loadable": providers.tensorrt_loadable()}


def engine(styles: list[str], device: str, **config: object) -> object:
    """An rtstyle engine, or the one-line reason it cannot be made."""
    from rtstyle.engine import Engine, EngineConfig
    from rtstyle.errors import RtstyleError

    try:
        return Engine(styles, EngineConfig(device=device, **config))  # type: ignore[arg-type]
    except RtstyleError as exc:
        return str(exc)


def placement(style: str) -> dict[str, object]:
    """Provider → {provider that took the nodes: how many}, for ``style``'s network."""
    from rtstyle import providers

    found: dict[str, object] = {}
    for device in ("tensorrt", "cuda"):
        made = engine([style], device, io_binding=False)
        if isinstance(made, str):
            found[device] = made
            continue
        nodes = providers.placement(made._sessions[style].session)  # type: ignore[attr-defined]
        found[device] = {ep: len(ops) for ep, ops in nodes.items()}
        found[f"{device}_cpu_nodes"] = made.cpu_nodes.get(style)  # type: ignore[attr-defined]
    return found


def pixels(styles: list[str]) -> dict[str, object]:
    """Mean |GPU − CPU fp32| per device and style, two styles in one engine (the cache-collision check)."""
    import numpy as np

    batch = frames(4, 360, 640)
    cpu = engine(styles, "cpu")
    want = {s: cpu.stylize(batch, s).astype(np.int16) for s in styles}  # type: ignore[attr-defined]
    found: dict[str, object] = {}
    for device in ("cuda", "tensorrt"):
        made = engine(styles, device)
        found[device] = made if isinstance(made, str) else {
            s: round(float(np.abs(made.stylize(batch, s) - want[s]).mean()), 3) for s in styles}  # type: ignore
    return found


def io_binding(style: str, batches: int = 50) -> dict[str, object]:
    """Largest and mean |bound − plain| over random batches (sizes and counts vary, as in use)."""
    import numpy as np

    rng = np.random.default_rng(0)
    bound, plain = engine([style], "auto", io_binding=True), engine([style], "auto", io_binding=False)
    if isinstance(bound, str) or isinstance(plain, str):
        return {"error": bound if isinstance(bound, str) else plain}
    worst, means, kept = 0, [], None
    for _ in range(batches):
        h, w = SIZES[int(rng.integers(0, 2))]
        x = rng.integers(0, 256, (int(rng.integers(1, 9)), h, w, 3), dtype=np.uint8)
        diff = np.abs(bound.stylize(x).astype(np.int16) - plain.stylize(x))  # type: ignore[attr-defined]
        worst, means = max(worst, int(diff.max())), [*means, float(diff.mean())]
        if kept is None:  # a result must not change when later calls reuse the device buffers
            first = bound.stylize(x)  # type: ignore[attr-defined]
            kept = (first, first.copy())
    unchanged = kept is not None and np.array_equal(*kept)
    return {"provider": bound.provider, "batches": batches, "max_diff": worst,  # type: ignore[attr-defined]
            "mean_diff": round(float(np.mean(means)), 4), "earlier_results_kept": unchanged}


def video(style: str) -> dict[str, object]:
    """``rtstyle video --json`` on a synthetic 1080p clip: fps and each stage's seconds."""
    if importlib.util.find_spec("av") is None:
        return {"skipped": "PyAV is not installed (pip install av): no rtstyle video run"}
    from rtstyle.synthetic import write_clip

    with tempfile.TemporaryDirectory() as tmp:
        h, w, seconds = VIDEO
        clip = write_clip(Path(tmp) / "in.mp4", width=w, height=h, fps=30, frames=int(30 * seconds))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        run = subprocess.run([sys.executable, "-m", "rtstyle", "video", str(clip), str(Path(tmp) / "out.mp4"),
                              "--style", style, "--json", "--quiet"], capture_output=True, text=True, env=env)
    if run.returncode:
        return {"error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"}
    return json.loads(run.stdout)


def torch_baseline(style: str, count: int = 30) -> dict[str, object]:
    """The full network as a per-frame fp32 PyTorch loop (uint8 host frame in, uint8 host frame out)."""
    if importlib.util.find_spec("torch") is None:
        return {"skipped": "torch is not installed"}
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "torch sees no CUDA device"}
    from export.transformer_net import TransformerNet

    from rtstyle.models import find_style

    meta = find_style(style).metadata
    channels = tuple(json.loads(meta.get("channels", "[32, 64, 128]")))
    net = TransformerNet(channels=channels, n_residual=int(meta.get("n_residual", 5))).cuda().eval()  # type: ignore
    h, w, _ = VIDEO
    batch = frames(count, h, w)
    with torch.no_grad():
        def one(frame: object) -> object:
            x = torch.from_numpy(frame).cuda().permute(2, 0, 1)[None].float()  # type: ignore[arg-type]
            return net(x).clamp(0, 255).byte()[0].permute(1, 2, 0).cpu().numpy()
        for f in batch[:3]:
            one(f)
        torch.cuda.synchronize()
        began = time.perf_counter()
        for f in batch:
            one(f)
        torch.cuda.synchronize()
    return {"size": f"{w}x{h}", "frames": count, "fps": round(count / (time.perf_counter() - began), 1),
            "weights": "random, same shape as the full network (the cost does not depend on them)"}


def fps_grid(style: str, budget: Budget, repeat_s: float = 1.0) -> list[dict[str, object]]:
    """Inference fps (IO binding, host frames in and out) per provider, precision, size and batch."""
    from rtstyle.providers import TrtProfile

    rows: list[dict[str, object]] = []
    profile = TrtProfile(opt=(max(BATCHES), *SIZES[-2]), max=(max(BATCHES), *SIZES[-1]))
    for device in ("tensorrt", "cuda"):
        for precision in ("fp16", "fp32"):
            made = engine([style], device, precision=precision, trt_profile=profile)
            if isinstance(made, str):
                rows.append({"device": device, "precision": precision, "error": made})
                continue
            for h, w in SIZES:
                for n in BATCHES:
                    if budget.left() < 20:
                        rows.append({"skipped": "time budget spent"})
                        return rows
                    rows.append({"device": device, "precision": precision, "size": f"{w}x{h}", "batch": n,
                                 "fps": round(_fps(made, frames(n, h, w), repeat_s), 1)})
                    say(f"  {rows[-1]}")
    return rows


def _fps(made: object, batch: object, repeat_s: float) -> float:
    made.stylize(batch)  # type: ignore[attr-defined]
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < repeat_s:
        made.stylize(batch)  # type: ignore[attr-defined]
        count += len(batch)  # type: ignore[arg-type]
    return count / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=8.0, help="time budget for the whole run")
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="where the JSON report goes")
    p.add_argument("--style", default="starry_night", help="the full network (its _fast one is checked too)")
    p.add_argument("--second-style", default="the_scream", help="the other style loaded in the same engine")
    args = p.parse_args(argv)
    stop = preflight()
    if stop is not None:
        print(stop[1])
        return stop[0]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    budget, report = Budget(args.minutes), {}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("versions", versions),
        ("placement_full", lambda: placement(args.style)),
        ("placement_fast", lambda: placement(f"{args.style}_fast")),
        ("pixels_vs_cpu", lambda: pixels([args.style, args.second_style])),
        ("io_binding", lambda: io_binding(args.style)),
        ("video_1080p", lambda: video(args.style)),
        ("torch_baseline_1080p", lambda: torch_baseline(args.style)),
        ("fps", lambda: fps_grid(args.style, budget)),
    ]
    for name, step in steps:
        if budget.left() <= 0:
            report[name] = {"skipped": "time budget spent"}
        else:
            began = time.monotonic()
            try:
                report[name] = step()
            except Exception as exc:  # a bring-up script reports every failure and goes on to the next step
                report[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
            say(f"{name} ({time.monotonic() - began:.0f} s): {json.dumps(report[name])}")
        args.out.write_text(json.dumps(report, indent=2))
    say(verdict(report))
    return 0


def verdict(report: dict[str, object]) -> str:
    """One line: the pixel check, and end-to-end fps against the targets (≥ 300 fps, ≥ 10× PyTorch)."""
    pixels = report.get("pixels_vs_cpu") or {}
    off = [f"{d}/{s} {v}" for d, by in pixels.items() if isinstance(by, dict)  # type: ignore[union-attr]
           for s, v in by.items() if v >= PIXEL_TOLERANCE]
    fps = (report.get("video_1080p") or {}).get("fps")  # type: ignore[union-attr]
    torch_fps = (report.get("torch_baseline_1080p") or {}).get("fps")  # type: ignore[union-attr]
    ratio = f", {fps / torch_fps:.1f}x the PyTorch loop" if fps and torch_fps else ""
    return (f"verdict: pixels {'OK' if not off else 'OFF: ' + ', '.join(off)}; "
            f"rtstyle video 1080p {fps} fps (target 300){ratio}")


if __name__ == "__main__":
    sys.exit(main())
