"""Convert a pytorch/examples ``fast_neural_style`` checkpoint (``.pth``) to an rtstyle model,
or export an rtstyle model (``.onnx``) again with the current exporter.

``rtstyle convert candy.pth models/candy.onnx --meta painting=Candy --meta license=...``
``rtstyle convert models/udnie_fast.onnx models/udnie_fast.onnx`` (same weights and metadata, the
graph around the network as ``rtstyle/training/onnx_export.py`` builds it today).

Old checkpoints carry ``in*.running_mean``/``running_var`` buffers from an InstanceNorm that
tracked statistics; they are unused at inference and are dropped.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from onnx import numpy_helper
from torch import nn

from rtstyle.errors import InputError, ModelError
from rtstyle.models import find_style, load_model
from rtstyle.training.onnx_export import export_onnx
from rtstyle.training.transformer_net import TransformerNet, network_for

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


# Written by export_onnx from the network itself; everything else in an exported model is carried over.
_DERIVED = {"variant", "channels", "n_residual", "version", "precision", "pad_multiple"}


def load_exported(path: str | Path) -> tuple[nn.Module, dict[str, str], str]:
    """The network inside an rtstyle ``.onnx`` (weights as stored), its metadata and precision."""
    model = load_model(path)
    props = {p.key: p.value for p in model.metadata_props}
    if not {"variant", "channels", "n_residual"} <= props.keys():
        raise ModelError(f"{path}: not an rtstyle network (no variant, channels and n_residual metadata), "
                         "so it cannot be read back into PyTorch")
    net = network_for(props["variant"], tuple(json.loads(props["channels"])), int(props["n_residual"]),
                      int(props.get("version", "1")))
    state = {t.name.removeprefix("net."): torch.from_numpy(numpy_helper.to_array(t).astype("float32"))
             for t in model.graph.initializer if t.name.startswith("net.")}
    net.load_state_dict(state)
    metadata = {k: v for k, v in props.items() if k not in _DERIVED}
    return net.eval(), metadata, props.get("precision", "fp16")


def read_network(source: str | Path) -> nn.Module:
    """A network to start from or learn from, in eval mode: an installed style's name, an rtstyle
    ``.onnx``, an rtstyle training checkpoint or a fast_neural_style ``.pth``."""
    text = str(source)
    if text.endswith(".onnx") or not Path(text).is_file():
        return load_exported(find_style(text).path)[0]
    try:
        state = torch.load(text, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of every kind mean "not a checkpoint"
        raise InputError(f"not a network: {text} (neither a style, an .onnx nor a PyTorch state dict)") from exc
    config = state.get("config") if isinstance(state, dict) else None
    if not config:
        return load_checkpoint(text)
    channels = tuple(config["channels"]) if config.get("channels") else None
    net = network_for(config.get("variant", "full"), channels, config.get("n_residual"),  # type: ignore[arg-type]
                      int(config.get("version") or 1))
    net.load_state_dict(state["net"])
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rtstyle convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help=".pth state dict, or an rtstyle .onnx to export again")
    p.add_argument("output", help="output .onnx path (may be the input)")
    p.add_argument("--name", help="style name (default: the model's own, else the output file's stem)")
    p.add_argument("--precision", choices=("fp16", "fp32"), help="default: the model's own, else fp16")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata: painting, artist, year, license")
    args = p.parse_args(argv)
    out = Path(args.output)
    if Path(args.checkpoint).suffix == ".onnx":
        net, meta, precision = load_exported(args.checkpoint)
    else:
        net, meta, precision = load_checkpoint(args.checkpoint), {}, "fp16"
        meta["source"] = f"converted from {Path(args.checkpoint).name}"
    meta.update(m.split("=", 1) for m in args.meta)
    if args.name or "style" not in meta:
        meta["style"] = args.name or out.stem
    export_onnx(net, out, precision=args.precision or precision, metadata=meta)
    print(f"wrote {out}")
    return 0
