"""Convert a pytorch/examples ``fast_neural_style`` checkpoint (``.pth``) to an rtstyle model.

``rtstyle convert candy.pth models/candy.onnx --meta painting=Candy --meta license=...``
Old checkpoints carry ``in*.running_mean``/``running_var`` buffers from an InstanceNorm that
tracked statistics; they are unused at inference and are dropped.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from export.onnx_export import export_onnx
from export.transformer_net import TransformerNet
from rtstyle.errors import InputError

_STALE = re.compile(r"in\d+\.running_(mean|var)$|\.num_batches_tracked$")


def load_checkpoint(path: str | Path) -> TransformerNet:
    """A TransformerNet with the weights of a fast_neural_style state dict (or our checkpoint)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise InputError(f"checkpoint not found: {path}") from exc
    except Exception as exc:  # pickle/zip errors of every kind mean "not a checkpoint"
        raise InputError(f"not a PyTorch state dict: {path} ({exc.__class__.__name__})") from exc
    if isinstance(state, dict) and "net" in state and isinstance(state["net"], dict):
        state = state["net"]  # an rtstyle training checkpoint
    state = {k: v for k, v in state.items() if not _STALE.search(k)}
    c1 = state["conv1.conv2d.weight"].shape[0]
    c2 = state["conv2.conv2d.weight"].shape[0]
    c3 = state["conv3.conv2d.weight"].shape[0]
    n_res = len({k.split(".")[0] for k in state if re.match(r"res\d+\.", k)})
    net = TransformerNet((c1, c2, c3), n_res)
    net.load_state_dict(state)
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rtstyle convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help=".pth state dict")
    p.add_argument("output", help="output .onnx path")
    p.add_argument("--name", help="style name (default: the output file's stem)")
    p.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata: painting, artist, year, license")
    args = p.parse_args(argv)
    out = Path(args.output)
    net = load_checkpoint(args.checkpoint)
    meta = dict(m.split("=", 1) for m in args.meta)
    meta.setdefault("style", args.name or out.stem)
    meta["source"] = f"converted from {Path(args.checkpoint).name}"
    export_onnx(net, out, precision=args.precision, metadata=meta)
    print(f"wrote {out}")
    return 0
