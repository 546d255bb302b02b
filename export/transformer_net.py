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

    def __init__(self, net: TransformerNet):
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).flip(1).float()
        y = self.net(x).clamp(0.0, 255.0).round()
        return y.flip(1).permute(0, 2, 3, 1).to(torch.uint8)
