"""Export a TransformerNet to ONNX with the frame contract of ``rtstyle.engine``.

The graph takes ``frames``: uint8 N×H×W×3 BGR (H, W multiples of 4; batch, height and width
dynamic) and returns ``stylized``: uint8 N×H×W×3 BGR. The fp16 file keeps instance
normalisation in fp32: its variance squares activations that overflow fp16 (max 65504).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Literal, Mapping

import onnx
import torch

from export.transformer_net import FramesModel, TransformerNet

OPSET = 17
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"
# Ops kept in fp32 inside the fp16 graph (see the module docstring).
FP32_OPS = ["InstanceNormalization"]


def export_onnx(
    net: TransformerNet,
    path: str | Path,
    *,
    precision: Literal["fp32", "fp16"] = "fp16",
    metadata: Mapping[str, object] | None = None,
) -> Path:
    """Write ``net`` to ``path`` (atomically) and return the path."""
    path = Path(path)
    model = _trace(net)
    if precision == "fp16":
        model = to_fp16(model)
    props = {"variant": variant_name(net), "channels": json.dumps(list(net.channels)),
             "n_residual": str(net.n_residual), "precision": precision, "pad_multiple": "4",
             **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}}
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, tmp)
    os.replace(tmp, path)
    return path


def variant_name(net: TransformerNet) -> str:
    return "full" if (tuple(net.channels), net.n_residual) == ((32, 64, 128), 5) else "custom"


def _trace(net: TransformerNet) -> onnx.ModelProto:
    frames = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    dims = {0: "batch", 1: "height", 2: "width"}

    stream = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(
            FramesModel(net).eval(), (frames,), stream, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims},
            opset_version=OPSET, dynamo=False,
        )
    return onnx.load_from_string(stream.getvalue())


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """fp16 weights and compute, instance norm in fp32, uint8 input and output unchanged."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(model, keep_io_types=True, op_block_list=FP32_OPS)
    _sort_topologically(model.graph)  # the converter appends its Cast nodes at the end
    return model


def _sort_topologically(graph: onnx.GraphProto) -> None:
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ValueError("the ONNX graph has a cycle or a dangling input")
        for node in ready:
            ordered.append(node)
            known.update(node.output)
        pending = [n for n in pending if n not in ready]
    del graph.node[:]
    graph.node.extend(ordered)
