"""VGG16 / VGG19 feature extractors for the perceptual losses (no torchvision needed).

The layers are built in torchvision's ``vgg16().features`` / ``vgg19().features`` order, so
state dicts with its keys (``features.0.weight`` …) load as they are.
"""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from rtstyle.errors import InputError

# torchvision's VGG16_Weights.IMAGENET1K_V1: the ImageNet weights Johnson et al.'s loss is usually run with.
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_URL_VARIABLE = "RTSTYLE_VGG16_URL"  # another source of the same file (a mirror, or file:// in tests)

# Channels per conv, "M" for a 2×2 max pool (Simonyan & Zisserman 2015, configurations D and E).
_CONFIGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512],
}
# Index of each named ReLU in the features Sequential.
_RELU_INDEX = {
    "vgg16": {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29},
    "vgg19": {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu4_2": 22,
              "relu5_1": 29},
}
# What each published weight file expects (see ../shared/weights/README and torchvision).
INPUT_CONVENTIONS = {
    # RGB in [0, 1], then ImageNet mean/std.
    "vgg16": dict(bgr=False, scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    # Caffe: BGR, 0–255, minus the BGR mean, no std.
    "vgg19": dict(bgr=True, scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
}


def _features(config: list[int | str], depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
        if len(layers) > depth:
            break
    return nn.Sequential(*layers[: depth + 1])


class VGGFeatures(nn.Module):
    """Frozen VGG that returns the activations at ``layers`` as a namedtuple.

    ``forward`` takes RGB float images N×3×H×W with values 0–255 and applies the input
    convention of the weights itself.
    """

    def __init__(self, network: str, layers: tuple[str, ...],
                 weights: str | Path | dict[str, torch.Tensor] | None = None):
        super().__init__()
        index = _RELU_INDEX[network]
        self.taps = {index[name]: name for name in layers}
        self.features = _features(_CONFIGS[network], max(self.taps))
        if weights is not None:
            state = weights if isinstance(weights, dict) else torch.load(weights, map_location="cpu",
                                                                         weights_only=True)
            state = {k.removeprefix("features."): v.float() for k, v in state.items()}
            self.features.load_state_dict(state, strict=False)
            missing = {k for k, _ in self.features.named_parameters()} - state.keys()
            if missing:
                raise ValueError(f"{weights}: no weights for {sorted(missing)}")
        self.features.requires_grad_(False).eval()
        conv = INPUT_CONVENTIONS[network]
        self.bgr = bool(conv["bgr"])
        self.scale = float(conv["scale"])  # type: ignore[arg-type]
        self.register_buffer("mean", torch.tensor(conv["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(conv["std"]).view(1, 3, 1, 1))
        self.Output = namedtuple("Output", layers)  # type: ignore[misc]

    def forward(self, rgb255: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = rgb255.flip(1) if self.bgr else rgb255
        x = (x * self.scale - self.mean) / self.std
        taps: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                taps[self.taps[i]] = x
        return self.Output(**taps)


def vgg16_weights(path: str | Path | None, *, progress: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """The VGG16 state dict at ``path``, else torchvision's published one, fetched once into torch's
    cache (``$RTSTYLE_VGG16_URL`` names another source). Returns it and the file it came from."""
    if path:
        if not Path(path).is_file():
            raise InputError(f"VGG weights not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=True), str(path)
    url = os.environ.get(VGG16_URL_VARIABLE) or VGG16_URL
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    try:
        state = torch.hub.load_state_dict_from_url(url, progress=progress, check_hash=True, map_location="cpu")
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad hash or file a RuntimeError
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise InputError(f"cannot fetch the VGG16 weights from {url} ({reason}) and none are cached: "
                         "give --vgg-weights PATH (a VGG16 state dict)") from exc
    return state, str(cached)
