"""Johnson et al. (2016) image transformation network.

Layer names follow pytorch/examples ``fast_neural_style/transformer_net.py`` so that its
``.pth`` checkpoints load directly (see :mod:`rtstyle.training.convert`).

Input and output are float RGB images, N×3×H×W, values 0–255, H and W multiples of 4.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLayer(nn.Module):
    """Reflection padding then a convolution: no zero borders for the style to smear."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest 2× upsampling then a convolution.

    Transposed convolutions leave checkerboard patterns (https://distill.pub/2016/deconv-checkerboard/).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with instance norm, added to the input (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class TransformerNet(nn.Module):
    """c9s1-32, d64, d128, R128×5, u64, u32, c9s1-3 (widths scale with ``channels``)."""

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), n_residual: int = 5):
        super().__init__()
        c1, c2, c3 = channels
        self.channels = channels
        self.n_residual = n_residual
        self.conv1 = ConvLayer(3, c1, 9)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.res = [ResidualBlock(c3) for _ in range(n_residual)]
        for i, block in enumerate(self.res, start=1):
            self.add_module(f"res{i}", block)  # pytorch/examples names: res1 … res5
        self.deconv1 = UpsampleConvLayer(c3, c2, 3)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, 3)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for block in self.res:
            y = block(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


class FramesModel(nn.Module):
    """The exported graph: uint8 BGR frames N×H×W×3 in, uint8 BGR frames out.

    Colour order, layout, scaling and rounding all happen here, so the host moves bytes only.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if hasattr(self.net, "frames"):  # a network that owns its uint8 boundary (FastTransformerNetV2)
            return self.net.frames(frames)
        # Layout and colour order change on bytes, at both ends: a quarter of the memory traffic
        # of floats (the fast network at 640x360 on 2 cores: 14.4 → 13.9 ms).
        x = frames.permute(0, 3, 1, 2).flip(1).float()
        y = self.net(x).clamp(0.0, 255.0).round().to(torch.uint8)
        return y.flip(1).permute(0, 2, 3, 1)


class SeparableResidualBlock(nn.Module):
    """Residual block of two depthwise-separable 3×3 convolutions (MobileNet-style): ~8× fewer
    multiply-adds than a full 3×3 convolution at the same width."""

    def __init__(self, channels: int, padding_mode: str = "reflect", first_norm: bool = True):
        super().__init__()
        self.dw1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, groups=channels)
        self.pw1 = nn.Conv2d(channels, channels, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True) if first_norm else nn.Identity()
        self.dw2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, groups=channels)
        self.pw2 = nn.Conv2d(channels, channels, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.pw1(self.dw1(x))))
        return x + self.in2(self.pw2(self.dw2(y)))


class FastTransformerNet(nn.Module):
    """A CPU-real-time variant: pixel unshuffle in, separable residual blocks at 1/4 size,
    pixel shuffle out. About 5 k multiply-adds per pixel against the full network's 154 k.

    Same contract as :class:`TransformerNet` (RGB 0–255 in and out, sides multiples of 4).
    """

    def __init__(self, channels: tuple[int, int, int] = (24, 48, 64), n_residual: int = 3):
        super().__init__()
        c1, c2, c3 = channels
        self.channels = channels
        self.n_residual = n_residual
        self.down = nn.PixelUnshuffle(2)  # 3 channels at full size → 12 at half size
        self.conv1 = ConvLayer(12, c1, 3)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = nn.Conv2d(c2, c3, 1)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.res = nn.Sequential(*(SeparableResidualBlock(c3) for _ in range(n_residual)))
        self.up1 = nn.Conv2d(c3, 4 * c1, 1)  # then pixel shuffle: 1/4 → 1/2 size
        self.in4 = nn.InstanceNorm2d(c1, affine=True)
        self.conv_out = ConvLayer(c1, 12, 3)  # then pixel shuffle: 1/2 → full size, 3 channels
        self.shuffle = nn.PixelShuffle(2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(self.down(x / 255.0))))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.res(self.relu(self.in3(self.conv3(y))))
        y = self.relu(self.in4(self.shuffle(self.up1(y))))
        return self.shuffle(self.conv_out(y)) * 255.0


class SpaceToDepth(torch.autograd.Function):
    """2×2 blocks to channels in ONNX's order (channel = (row * 2 + column) * C + c), exported as
    the one ``SpaceToDepth`` node: PyTorch's pixel_unshuffle exports as a six-axis Transpose that
    onnxruntime runs ten times slower."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c4, h, w = grad.shape
        return grad.reshape(n, 2, 2, c4 // 4, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c4 // 4, 2 * h, 2 * w)

    @staticmethod
    def symbolic(g: object, x: object) -> object:
        return g.op("SpaceToDepth", x, blocksize_i=2)  # type: ignore[attr-defined]


class FastTransformerNetV2(nn.Module):
    """The fast network, second version: :class:`FastTransformerNet`'s widths and depth in a graph
    without memory-bound detours (onnxruntime on a CPU spent half of v1's time outside convolutions).

    * zero padding inside the convolutions instead of nine reflection Pad nodes;
    * one instance norm per residual block, at its end: the middle one split the convolutions'
      blocked layout in two (ReorderOutput/ReorderInput); without it the graph runs 1.22× faster;
    * in: conv1 reads the frames' colour planes directly (SpaceToDepth folded into its weights);
    * middle: a 2×2 stride-2 transposed convolution instead of a 1×1 convolution and a pixel
      shuffle of 96 channels (the same map up to a per-phase bias, in a quarter of the time);
    * out: colour order, the 0–255 scale and rounding live in the last convolution's weights, so
      the last pixel shuffle moves bytes, not floats (:meth:`frames`).

    Trained for temporal stability as well (``TrainConfig.temporal_weight``). Same contract as
    :class:`TransformerNet`: RGB 0–255 in and out, sides multiples of 4. ``first_norms`` keeps the
    middle norms, only to read a v1 network in (:func:`upgrade`). Shipped since the twelfth session.
    """

    version = 2

    def __init__(self, channels: tuple[int, int, int] = (24, 48, 64), n_residual: int = 3, *,
                 first_norms: bool = False):
        super().__init__()
        c1, c2, c3 = channels
        self.channels = channels
        self.n_residual = n_residual
        self.conv1 = nn.Conv2d(12, c1, 3, padding=1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = nn.Conv2d(c2, c3, 1)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.res = nn.Sequential(*(SeparableResidualBlock(c3, padding_mode="zeros", first_norm=first_norms)
                                   for _ in range(n_residual)))
        self.up1 = nn.ConvTranspose2d(c3, c1, 2, stride=2)
        self.in4 = nn.InstanceNorm2d(c1, affine=True)
        self.conv_out = nn.Conv2d(c1, 12, 3, padding=1)  # then pixel shuffle: 3 channels at full size
        self.relu = nn.ReLU()

    def _trunk(self, y: torch.Tensor) -> torch.Tensor:
        """From conv1's output to the 12 half-size channels of the picture."""
        y = self.relu(self.in1(y))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.res(self.relu(self.in3(self.conv3(y))))
        return self.relu(self.in4(self.up1(y)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._trunk(self.conv1(SpaceToDepth.apply(x / 255.0)))
        return nn.functional.pixel_shuffle(self.conv_out(y), 2) * 255.0

    def frames(self, frames: torch.Tensor) -> torch.Tensor:
        """The exported graph: uint8 BGR N×H×W×3 in and out (see :class:`FramesModel`).

        The same map as :meth:`forward`, written for onnxruntime's CPU kernels (each step measured
        at 640×360 on a 2-core Xeon, thirteenth session, docs/benchmarks.md):

        * in: SpaceToDepth and conv1's 3×3 convolution are one 6×6 stride-2 convolution of the
          three full-size colour planes (onnxruntime's direct path for few input channels), with
          the colour order in its weights: no SpaceToDepth node;
        * out: the floats change layout to N×H×W×C inside the convolution's own reorder, then
          become bytes, and the two output rows of each 2×2 block are put in place by one Gather
          along the row (6-byte blocks), not a 4-D byte Transpose (0.23 against 0.78 ms).
        """
        o, _, k, _ = self.conv1.weight.shape
        # conv1's inputs are SpaceToDepth's (row, column, RGB); as a 2k×2k kernel over BGR planes
        w = self.conv1.weight.reshape(o, 2, 2, 3, k, k).flip(3) / 255.0
        w = w.permute(0, 3, 4, 1, 5, 2).reshape(o, 3, 2 * k, 2 * k)
        y = nn.functional.conv2d(frames.permute(0, 3, 1, 2).float(), w, self.conv1.bias, stride=2, padding=k - 1)
        y = self._trunk(y)
        # conv_out's channels are (colour, row, column) for the pixel shuffle; reordered to (row,
        # column, BGR colour), each half-size pixel holds its 2×2 block as [top BGR BGR, bottom BGR BGR]
        n, _, h, w = y.shape
        i = self.conv_out.weight.shape[1]
        weight = self.conv_out.weight.reshape(3, 2, 2, i, k, k).flip(0).permute(1, 2, 0, 3, 4, 5).reshape(12, i, k, k)
        bias = self.conv_out.bias.reshape(3, 2, 2).flip(0).permute(1, 2, 0).reshape(12) * 255.0 + 0.5  # cast truncates
        y = nn.functional.conv2d(y, weight * 255.0, bias, padding=1).clamp(0.0, 255.0)
        y = y.permute(0, 2, 3, 1).to(torch.uint8).reshape(n * h, 2 * w, 6)  # (row-half block, 6 bytes)
        # each image row: all top halves, then all bottom halves
        rows = torch.arange(2 * w, device=y.device).reshape(w, 2).t().reshape(-1)
        return y.index_select(1, rows).reshape(n, 2 * h, 2 * w, 3)


def upgrade(net: FastTransformerNet, photos: torch.Tensor) -> FastTransformerNetV2:
    """A v2 network that starts from a trained v1 one: every weight carried over (conv1's inputs in
    SpaceToDepth's order, up1's 1×1 convolution + shuffle as the transposed convolution it is, its
    four per-phase biases averaged), the residual blocks' middle instance norms folded into their
    convolutions with the statistics of ``photos`` (RGB 0–255, N×3×H×W). Borders and pictures
    unlike ``photos`` differ until it is trained a little."""
    v2 = FastTransformerNetV2(net.channels, net.n_residual, first_norms=True)
    state = dict(net.state_dict())
    o, _, k, _ = state["conv1.conv2d.weight"].shape
    state["conv1.weight"] = state.pop("conv1.conv2d.weight").reshape(o, 3, 4, k, k).transpose(1, 2).reshape(o, 12, k, k)
    state["conv1.bias"] = state.pop("conv1.conv2d.bias")
    for name in ("conv2", "conv_out"):
        state[f"{name}.weight"] = state.pop(f"{name}.conv2d.weight")
        state[f"{name}.bias"] = state.pop(f"{name}.conv2d.bias")
    up, bias = state.pop("up1.weight"), state.pop("up1.bias")  # (4·c1, c3, 1, 1): channel = c·4 + row·2 + column
    c4, c3 = up.shape[:2]
    state["up1.weight"] = up.reshape(c4 // 4, 2, 2, c3).permute(3, 0, 1, 2).contiguous()
    state["up1.bias"] = bias.reshape(c4 // 4, 4).mean(1)
    v2.load_state_dict(state)
    return fold_first_norms(v2.eval(), photos)


def narrow(net: FastTransformerNetV2, c1: int) -> FastTransformerNetV2:
    """``net`` with ``c1`` channels at half size instead of its own, to be fine-tuned: on each side
    (encoder: conv1 → in1 → conv2; decoder: up1 → in4 → conv_out) the channels kept are those that
    weigh most on the next convolution (instance norm scale × the norm of its weights there).

    At half size every layer's width is rounded up to onnxruntime's 16-channel blocks on AVX-512
    CPUs, so 24 channels cost 32: 16 run the network 17% faster (docs/benchmarks.md)."""
    if c1 > net.channels[0]:
        raise ValueError(f"narrow keeps channels: {c1} > {net.channels[0]}")
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def keep(norm: str, after: str) -> torch.Tensor:
        weight = state[f"{after}.weight"]
        importance = state[f"{norm}.weight"].abs() * weight.transpose(0, 1).flatten(1).norm(dim=1)
        return importance.topk(c1).indices.sort().values

    enc, dec = keep("in1", "conv2"), keep("in4", "conv_out")
    for name in ("conv1.weight", "conv1.bias", "in1.weight", "in1.bias", "in4.weight", "in4.bias", "up1.bias"):
        state[name] = state[name][enc if name.startswith(("conv1", "in1")) else dec]
    state["conv2.weight"] = state["conv2.weight"][:, enc]
    state["up1.weight"] = state["up1.weight"][:, dec]  # (c3, c1, 2, 2)
    state["conv_out.weight"] = state["conv_out.weight"][:, dec]
    narrowed = FastTransformerNetV2((c1, *net.channels[1:]), net.n_residual)
    narrowed.load_state_dict(state)
    return narrowed


def fold_first_norms(net: FastTransformerNetV2, photos: torch.Tensor) -> FastTransformerNetV2:
    """``net`` (built with ``first_norms=True``) without the residual blocks' middle instance norms:
    each becomes a fixed scale and shift of the convolution before it, from the mean and variance
    its input has over ``photos`` (exact for one photo: instance norm computes them per picture)."""
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def recorder(i: int):  # noqa: ANN202
        def record(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: torch.Tensor) -> None:
            x = inputs[0]
            seen[i] = x.mean(dim=(0, 2, 3)), x.var(dim=(2, 3), unbiased=False).mean(0)
        return record

    hooks = [block.in1.register_forward_hook(recorder(i)) for i, block in enumerate(net.res)]
    with torch.no_grad():
        net.eval()(photos)
    for hook in hooks:
        hook.remove()
    folded = FastTransformerNetV2(net.channels, net.n_residual)
    state = {k: v.detach() for k, v in net.state_dict().items() if ".in1." not in k or not k.startswith("res.")}
    for i, block in enumerate(net.res):
        mean, var = seen[i]
        scale = block.in1.weight.detach() / torch.sqrt(var + block.in1.eps)
        state[f"res.{i}.pw1.weight"] = state[f"res.{i}.pw1.weight"] * scale[:, None, None, None]
        state[f"res.{i}.pw1.bias"] = (state[f"res.{i}.pw1.bias"] - mean) * scale + block.in1.bias.detach()
    folded.load_state_dict(state)
    return folded


def load_deepening(net: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load the weights of a network with the same layers but fewer residual blocks.

    The blocks the checkpoint lacks start as the identity: their last instance norm's scale and
    shift are zero, so the deeper network computes exactly what the shallower one did and
    training goes on from there (Net2Net deepening, Chen et al. 2016). Returns the new blocks'
    names; any other mismatch is an error, as with a strict load.
    """
    missing, unexpected = net.load_state_dict(state, strict=False)
    new = {name: block for name, block in net.named_modules()
           if isinstance(block, (ResidualBlock, SeparableResidualBlock)) and f"{name}.in2.weight" in missing}
    stray = [key for key in missing if not key.startswith(tuple(f"{name}." for name in new))]
    if unexpected or stray:
        raise RuntimeError(f"checkpoint does not fit the network: missing {stray}, unexpected {unexpected}")
    with torch.no_grad():
        for block in new.values():
            block.in2.weight.zero_()
            block.in2.bias.zero_()
    return list(new)


def network_for(variant: str, channels: tuple[int, int, int] | None = None, n_residual: int | None = None,
                version: int = 1) -> nn.Module:
    """Build the network of a variant name ("full" or "fast") and version with optional widths and depth."""
    kind = {("full", 1): TransformerNet, ("fast", 1): FastTransformerNet, ("fast", 2): FastTransformerNetV2}[
        variant, version]
    kwargs = {k: v for k, v in (("channels", channels), ("n_residual", n_residual)) if v is not None}
    return kind(**kwargs)


def variant_of(net: nn.Module) -> str:
    return "fast" if isinstance(net, (FastTransformerNet, FastTransformerNetV2)) else "full"


def version_of(net: nn.Module) -> int:
    return getattr(net, "version", 1)
