"""Johnson et al. (2016) image transformation network.

Layer names follow pytorch/examples ``fast_neural_style/transformer_net.py`` so that its
``.pth`` checkpoints load directly (see :mod:`export.convert`).

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
        # Layout and colour order change on bytes, at both ends: a quarter of the memory traffic
        # of floats (the fast network at 640x360 on 2 cores: 14.4 → 13.9 ms).
        x = frames.permute(0, 3, 1, 2).flip(1).float()
        y = self.net(x).clamp(0.0, 255.0).round().to(torch.uint8)
        return y.flip(1).permute(0, 2, 3, 1)


class SeparableResidualBlock(nn.Module):
    """Residual block of two depthwise-separable 3×3 convolutions (MobileNet-style): ~8× fewer
    multiply-adds than a full 3×3 convolution at the same width."""

    def __init__(self, channels: int):
        super().__init__()
        self.dw1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", groups=channels)
        self.pw1 = nn.Conv2d(channels, channels, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.dw2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", groups=channels)
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


def network_for(variant: str, channels: tuple[int, int, int] | None = None, n_residual: int | None = None) -> nn.Module:
    """Build the network of a variant name ("full" or "fast") with optional widths and depth."""
    kind = {"full": TransformerNet, "fast": FastTransformerNet}[variant]
    kwargs = {k: v for k, v in (("channels", channels), ("n_residual", n_residual)) if v is not None}
    return kind(**kwargs)


def variant_of(net: nn.Module) -> str:
    return "fast" if isinstance(net, FastTransformerNet) else "full"
