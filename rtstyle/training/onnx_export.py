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
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import onnx
import torch
from torch import nn

from rtstyle.precision import to_fp16
from rtstyle.training.transformer_net import FramesModel, variant_of, version_of

OPSET = 17
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"


def export_onnx(
    net: nn.Module,
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
    props = {"variant": variant_of(net), "channels": json.dumps(list(net.channels)),
             "n_residual": str(net.n_residual), "version": str(version_of(net)), "precision": precision,
             "pad_multiple": "4", "stroke_size": "1",
             **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}}
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return save_model(model, path)


def save_model(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically: a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, tmp)
    os.replace(tmp, path)
    return path


def _trace(net: nn.Module) -> onnx.ModelProto:
    frames = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    dims = {0: "batch", 1: "height", 2: "width"}

    stream = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(
            FramesModel(net).eval(), (frames,), stream, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims},
            opset_version=OPSET, dynamo=False,
            # A v2 network computes its exported weights from its parameters (FastTransformerNetV2.frames):
            # left unfolded, the parameters stay in the file under their own names, so the network can
            # be read back (rtstyle.training.convert); onnxruntime folds them when it loads the graph.
            do_constant_folding=version_of(net) == 1,
        )
    model = onnx.load_from_string(stream.getvalue())
    # v2 ends on reshapes whose sizes are computed, which hides the output's shape from the
    # exporter: state the contract (the input's N×H×W, 3 channels)
    output = model.graph.output[0].type.tensor_type.shape
    output.ClearField("dim")
    for name in dims.values():
        output.dim.add().dim_param = name
    output.dim.add().dim_value = 3
    return model
