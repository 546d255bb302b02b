"""Switch an ONNX graph between fp16 and fp32 compute (onnx only, no torch).

Shipped models store fp16 weights to stay small; on a CPU they run faster upcast to fp32.
Instance normalisation stays in fp32 in any fp16 graph: its variance squares activations that
overflow fp16 (largest value 65504).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, numpy_helper

FP32_OPS = ["InstanceNormalization"]


def graph_precision(model: onnx.ModelProto) -> str:
    """``"fp16"`` if any weight is stored in fp16, else ``"fp32"``."""
    fp16 = any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
    return "fp16" if fp16 else "fp32"


def to_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy whose fp16 weights, casts and value types are all fp32."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT16:
            array = numpy_helper.to_array(tensor).astype("float32")
            graph.initializer[i].CopyFrom(numpy_helper.from_array(array, tensor.name))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype("float32"), attr.t.name))
    for info in (*graph.value_info, *graph.input, *graph.output):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    return model


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
