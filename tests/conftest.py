"""Shared fixtures: tiny random-weight style networks and tiny synthetic clips.

Nothing here needs a network connection, a camera, a GPU or ../shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TINY_STYLES = ("tiny_a", "tiny_b", "tiny_c")


def _export_tiny(folder: Path, name: str, seed: int, precision: str = "fp16") -> Path:
    torch = pytest.importorskip("torch")
    from rtstyle.training.onnx_export import export_onnx
    from rtstyle.training.transformer_net import TransformerNet

    torch.manual_seed(seed)
    net = TransformerNet(channels=(8, 16, 16), n_residual=1).eval()
    with torch.no_grad():  # random affine norms so that each tiny style looks clearly different
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-1.0, 1.0)
        net.deconv3.conv2d.bias.copy_(torch.tensor([60.0, 120.0, 180.0]).roll(seed))
    # stroke_size 4: the tiny test frames are painted at a small working size (120² pixels), so tests stay quick
    meta = {"style": name, "painting": f"Tiny {name}", "artist": "random weights", "year": "2026",
            "license": "test fixture", "stroke_size": "4"}
    return export_onnx(net, folder / f"{name}.onnx", precision=precision, metadata=meta)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with three tiny fp16 style models (8/16/16 channels, one residual block)."""
    folder = tmp_path_factory.mktemp("models")
    for seed, name in enumerate(TINY_STYLES):
        _export_tiny(folder, name, seed)
    return folder


@pytest.fixture()
def tiny_models(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Makes the tiny models the only installed styles; returns their names."""
    monkeypatch.setenv("RTSTYLE_MODELS", str(tiny_model_dir))
    monkeypatch.setattr("rtstyle.models.model_dirs", lambda: [tiny_model_dir])
    return list(TINY_STYLES)


@pytest.fixture()
def clip(tmp_path: Path):
    """Factory for tiny synthetic clips: ``clip(name, **write_clip options) -> Path``."""
    from rtstyle.synthetic import write_clip

    def make(name: str = "in.mp4", **options: object) -> Path:
        return write_clip(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not present")
