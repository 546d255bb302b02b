"""Export contract: onnxruntime matches PyTorch, fp16 stays correct, checkpoints convert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import StyleInfo  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from rtstyle.training.convert import main as convert_main  # noqa: E402
from rtstyle.training.onnx_export import export_onnx  # noqa: E402
from rtstyle.training.transformer_net import FramesModel, TransformerNet  # noqa: E402


def _net(seed: int = 0, gain: float = 1.0) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(gain)
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        net.deconv3.conv2d.bias.fill_(128.0)
    return net


def _photo_batch() -> np.ndarray:
    return np.stack([scene(i * 7, 96, 64) for i in range(2)])


def _run(path: Path, precision: str, frames: np.ndarray) -> np.ndarray:
    return Engine([StyleInfo.from_file(path)], EngineConfig(device="cpu", precision=precision)).paint(frames)


def test_onnxruntime_matches_pytorch(tmp_path: Path) -> None:
    net = _net()
    path = export_onnx(net, tmp_path / "m.onnx", precision="fp32")
    frames = _photo_batch()
    with torch.no_grad():
        want = FramesModel(net)(torch.from_numpy(frames)).numpy()
    got = _run(path, "fp32", frames)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # stated tolerance: rounding only


def test_fp16_keeps_instance_norm_correct_with_large_activations(tmp_path: Path) -> None:
    """Activations here exceed 256, so their squares overflow fp16; the norm must stay fp32."""
    net = _net(gain=8.0)
    with torch.no_grad():
        assert net.conv1(torch.from_numpy(_photo_batch()).permute(0, 3, 1, 2).float()).abs().max() > 300
    fp32_path = export_onnx(net, tmp_path / "a.onnx", precision="fp32")
    fp16_path = export_onnx(net, tmp_path / "b.onnx", precision="fp16")
    assert fp16_path.stat().st_size < 0.6 * fp32_path.stat().st_size
    frames = _photo_batch()
    reference = _run(fp32_path, "fp32", frames).astype(int)
    fp16 = _run(fp16_path, "fp16", frames).astype(int)
    assert np.abs(fp16 - reference).mean() < 2.0  # stated tolerance: mean error under 2 of 255
    norms = [n for n in onnx.load(str(fp16_path)).graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all("cast" in n.input[0].lower() for n in norms)


def test_metadata_and_dynamic_axes(tmp_path: Path) -> None:
    path = export_onnx(_net(), tmp_path / "m.onnx", metadata={"style": "x", "painting": "P", "year": "1900",
                                                              "training": {"steps": 3}})
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["style"] == "x" and props["variant"] == "full" and props["training"] == '{"steps": 3}'
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:3] == ["batch", "height", "width"] and model.graph.input[0].type.tensor_type.elem_type == 2


def test_convert_fast_neural_style_checkpoint(tmp_path: Path, capsys) -> None:
    net = _net(seed=3)
    state = dict(net.state_dict())
    for i in range(1, 6):  # what old pytorch/examples checkpoints carry
        state[f"in{i}.running_mean"] = torch.zeros(8)
        state[f"in{i}.running_var"] = torch.ones(8)
    torch.save(state, tmp_path / "candy.pth")
    assert convert_main([str(tmp_path / "candy.pth"), str(tmp_path / "candy.onnx"), "--precision", "fp32",
                         "--meta", "painting=Candy"]) == 0
    info = StyleInfo.from_file(tmp_path / "candy.onnx")
    assert info.name == "candy" and info.metadata["painting"] == "Candy"
    frames = _photo_batch()
    with torch.no_grad():
        want = FramesModel(net)(torch.from_numpy(frames)).numpy().astype(int)
    assert np.abs(_run(tmp_path / "candy.onnx", "fp32", frames).astype(int) - want).max() <= 1


def _graph_ends_on_bytes(path: Path) -> bool:
    """The last layout change (NCHW → NHWC) moves uint8, not floats."""
    nodes = onnx.load(str(path)).graph.node
    last_transpose = max(i for i, n in enumerate(nodes) if n.op_type == "Transpose")
    casts = [i for i, n in enumerate(nodes) if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.UINT8]
    return bool(casts) and max(casts) < last_transpose


def _v2_shuffles_bytes(path: Path) -> bool:
    """v2's output: floats change layout right before the cast to bytes (onnxruntime folds that
    Transpose into the convolution's reorder), and the pixel shuffle after it is a byte Gather."""
    nodes = onnx.load(str(path)).graph.node
    made_by = {out: n for n in nodes for out in n.output}
    cast = next(n for n in nodes if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.UINT8)
    before = made_by[cast.input[0]]
    gathers = [n for n in nodes if n.op_type == "Gather"]
    after = [n for n in gathers if made_by.get(n.input[0]) is not None
             and made_by[n.input[0]].op_type == "Reshape" and made_by[n.input[0]].input[0] == cast.output[0]]
    perm = next(a.ints for a in before.attribute if a.name == "perm") if before.op_type == "Transpose" else []
    return list(perm) == [0, 2, 3, 1] and len(after) == 1


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_convert_exports_an_rtstyle_model_again(tmp_path: Path, precision: str) -> None:
    from rtstyle.training.transformer_net import network_for

    torch.manual_seed(5)
    net = network_for("fast").eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    meta = {"style": "tiny_fast", "painting": "P", "training": {"steps": 7}}
    old = export_onnx(net, tmp_path / "old.onnx", precision=precision, metadata=meta)
    assert convert_main([str(old), str(tmp_path / "new.onnx")]) == 0
    new = tmp_path / "new.onnx"
    props = [{p.key: p.value for p in onnx.load(str(f)).metadata_props} for f in (old, new)]
    assert props[0] == props[1] and props[1]["precision"] == precision and props[1]["style"] == "tiny_fast"
    weights = [{t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(f)).graph.initializer} for f in (old, new)]
    assert weights[0].keys() == weights[1].keys()
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    frames = _photo_batch()
    np.testing.assert_array_equal(_run(new, "fp32", frames), _run(old, "fp32", frames))
    assert _graph_ends_on_bytes(new)


def test_convert_refuses_an_onnx_that_is_not_an_rtstyle_model(tmp_path: Path) -> None:
    from rtstyle.errors import ModelError

    path = export_onnx(_net(), tmp_path / "m.onnx", precision="fp32")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="not an rtstyle network"):
        convert_main([str(path), str(tmp_path / "out.onnx")])
    assert not (tmp_path / "out.onnx").exists()


def _v2(seed: int = 3) -> torch.nn.Module:
    from rtstyle.training.transformer_net import FastTransformerNetV2

    torch.manual_seed(seed)
    net = FastTransformerNetV2().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        net.conv_out.bias.fill_(0.5)  # mid-grey: few pixels land on the clamp
    return net


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fast_v2_graph_paints_what_pytorch_paints_and_reads_back(tmp_path: Path, precision: str) -> None:
    from rtstyle.training.convert import load_exported
    from rtstyle.training.transformer_net import FastTransformerNetV2

    net = _v2()
    # edge_pad 0: the graph alone, without the mirrored margin the engine paints around the picture
    path = export_onnx(net, tmp_path / "v2.onnx", precision=precision, metadata={"style": "v2", "edge_pad": "0"})
    back, meta, _ = load_exported(path)
    assert isinstance(back, FastTransformerNetV2) and meta["style"] == "v2"
    tolerance = 0 if precision == "fp32" else 1e-2
    for (name, a), b in zip(net.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=tolerance, rtol=tolerance), name
    frames = _photo_batch()
    with torch.no_grad():  # the weights as stored (fp16 rounds them)
        want = back(torch.from_numpy(frames[..., ::-1].copy()).permute(0, 3, 1, 2).float())
    want = want.clamp(0, 255).round().permute(0, 2, 3, 1).numpy()[..., ::-1]
    got = _run(path, "fp32", frames)
    diff = np.abs(got.astype(np.float64) - want)
    assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())  # colour order, scale and rounding
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Pad" not in ops and "SpaceToDepth" not in ops and ops.count("ConvTranspose") == 1
    assert _v2_shuffles_bytes(path)


def test_narrowing_a_v2_network_keeps_the_channels_that_carry_its_picture() -> None:
    from rtstyle.training.transformer_net import narrow

    net = _v2()
    dead = {"in1": torch.randperm(24)[:8], "in4": torch.randperm(24)[:8]}  # channels that paint nothing
    with torch.no_grad():
        for name, channels in dead.items():
            getattr(net, name).weight[channels] = 0.0
            getattr(net, name).bias[channels] = 0.0
    narrowed = narrow(net, 16)
    assert narrowed.channels == (16, 48, 64)
    x = torch.from_numpy(_photo_batch()[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        assert torch.allclose(narrowed(x), net(x), atol=1e-3)
        assert torch.equal(narrow(net, 24)(x), net(x))


def test_space_to_depth_has_the_gradient_of_its_reshape() -> None:
    from rtstyle.training.transformer_net import SpaceToDepth

    x = torch.randn(1, 2, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SpaceToDepth.apply, (x,))
    blocks = SpaceToDepth.apply(torch.arange(16.0).reshape(1, 1, 4, 4))
    assert blocks[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]  # ONNX's order: row, column, channel


def test_upgrade_carries_every_v1_layer_over() -> None:
    from rtstyle.training.transformer_net import FastTransformerNet, SpaceToDepth, upgrade

    torch.manual_seed(2)
    v1 = FastTransformerNet().eval()
    with torch.no_grad():
        v1.up1.bias.copy_(torch.randn(v1.up1.bias.shape[0] // 4).repeat_interleave(4))  # one bias per channel
    x = torch.rand(1, 3, 32, 48) * 255
    v2 = upgrade(v1, x).eval()
    with torch.no_grad():
        first = v1.conv1.conv2d(v1.conv1.reflection_pad(v1.down(x / 255)))
        assert torch.allclose(v2.conv1(SpaceToDepth.apply(x / 255))[..., 1:-1, 1:-1], first[..., 1:-1, 1:-1], atol=1e-5)
        y = torch.randn(1, 64, 8, 12)
        assert torch.allclose(v2.up1(y), v1.shuffle(v1.up1(y)), atol=1e-5)
        assert torch.equal(v2.res[0].pw2.weight, v1.res[0].pw2.weight)
        assert torch.equal(v2.res[0].in2.weight, v1.res[0].in2.weight)


def test_folded_middle_norms_paint_their_photo_exactly() -> None:
    from rtstyle.training.transformer_net import FastTransformerNetV2, fold_first_norms

    torch.manual_seed(4)
    normed = FastTransformerNetV2(first_norms=True).eval()
    with torch.no_grad():
        for m in normed.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    photo, other = torch.rand(2, 1, 3, 32, 48) * 255
    folded = fold_first_norms(normed, photo).eval()
    assert all(isinstance(block.in1, torch.nn.Identity) for block in folded.res)
    with torch.no_grad():
        assert torch.allclose(folded(photo), normed(photo), atol=1e-2)  # instance norm's own statistics
        assert not torch.allclose(folded(other), normed(other), atol=1e-2)  # another picture's differ
