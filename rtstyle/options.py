"""Command-line options shared by several commands, and the engine they ask for.

Apart from :mod:`rtstyle.cli` so that commands defined in their own modules (``webcam``) use them
without importing the CLI, which imports those modules to list them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from rtstyle.engine import DEVICES, Engine, EngineConfig, codec_threads
from rtstyle.models import default_style, find_style
from rtstyle.providers import TrtProfile
from rtstyle.strokes import STROKE_HELP


def engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", help="style name (see `rtstyle styles`) or path to an .onnx file")
    p.add_argument("--device", choices=DEVICES, default="auto", help="execution provider (default: auto)")
    p.add_argument("--precision", choices=("auto", "fp16", "fp32"), default="auto",
                   help="auto: fp16 on a GPU, fp32 on the CPU")
    p.add_argument("--stroke-size", type=float, metavar="S", help=STROKE_HELP)
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for inference (0: all cores; video: all but one, left to decoding and encoding)")


def make_engine(args: argparse.Namespace, styles: Sequence[str] | None = None, *, spin: bool = True,
                beside_codecs: bool = False, trt_profile: TrtProfile | None = None) -> Engine:
    """The engine :func:`engine_options` describe, for ``styles`` (default: ``--style`` or the default one).

    ``beside_codecs``: video is decoded and encoded on the same cores, so inference's idle threads do
    not busy-wait and, unless ``--threads`` says, it takes every core but one (:func:`codec_threads`).
    ``trt_profile``: the frame shapes the command sends, for TensorRT (default: ``rtstyle video``'s).
    """
    threads = args.threads or (codec_threads() if beside_codecs else 0)
    config = EngineConfig(device=args.device, precision=args.precision, stroke=args.stroke_size, threads=threads,
                          spin=spin and not beside_codecs, trt_profile=trt_profile or TrtProfile())
    chosen = [find_style(s) for s in styles] if styles else [find_style(args.style) if args.style else default_style()]
    return Engine(chosen, config)


def parse_size(text: str) -> tuple[int, int]:
    """``640x480`` → (640, 480)."""
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or min(int(match[1]), int(match[2])) < 16:
        raise argparse.ArgumentTypeError(f"size must be WxH with both at least 16, such as 640x480, not {text!r}")
    return int(match[1]), int(match[2])
