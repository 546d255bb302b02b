"""Gatys optimisation, its command, the quality report and the contact sheet, on tiny stand-ins.

A random-weight VGG16 and 32–64 px pictures keep every test well under a second of VGG work;
the one test with the real ImageNet weights needs ../shared.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export import contact_sheet as sheet  # noqa: E402
from export import quality  # noqa: E402
from rtstyle.models import StyleInfo  # noqa: E402
from rtstyle.training import optimize as opt  # noqa: E402
from rtstyle.training.data import to_tensor  # noqa: E402
from rtstyle.training.onnx_export import export_onnx  # noqa: E402
from rtstyle.training.train import STYLE_LAYERS  # noqa: E402
from rtstyle.training.transformer_net import FastTransformerNet, TransformerNet  # noqa: E402
from rtstyle.training.vgg import VGGFeatures  # noqa: E402
from tests.conftest import SHARED, needs_shared  # noqa: E402

TINY_WEIGHTS = dict(content_weight=1.0, style_weight=1e6)  # balanced for a random-weight VGG


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    """uint8 RGB: smooth colour gradients plus some texture, different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))], axis=-1)
    return np.clip(128 + 90 * base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_vgg() -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures("vgg16", STYLE_LAYERS, None)


@pytest.fixture(scope="module")
def tiny_weights(tiny_vgg: VGGFeatures, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny VGG's weights as a state dict with torchvision's keys."""
    path = tmp_path_factory.mktemp("vgg") / "tiny-vgg16.pth"
    torch.save({f"features.{k}": v for k, v in tiny_vgg.features.state_dict().items()}, path)
    return path


@pytest.fixture()
def images(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "photo.png", tmp_path / "painting.jpg"
    cv2.imwrite(str(content), _picture(48, 64, 1)[..., ::-1])
    cv2.imwrite(str(style), _picture(40, 40, 2)[..., ::-1])
    return content, style


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisation_lowers_the_loss(tiny_vgg: VGGFeatures, optimizer: str) -> None:
    photo, painting = _picture(32, 40, 1), _picture(32, 32, 2)
    config = opt.OptimizeConfig(steps=15, optimizer=optimizer, **TINY_WEIGHTS)
    with torch.no_grad():
        _, before = opt.PerceptualLoss(tiny_vgg, to_tensor(photo), to_tensor(painting), config)(to_tensor(photo))
    result = opt.optimize(photo, painting, config=config, vgg=tiny_vgg)
    assert result.image.shape == photo.shape and result.image.dtype == np.uint8
    assert result.losses.total < 0.7 * before.total
    assert not np.array_equal(result.image, photo)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_every_pass_is_reported_without_a_progress_bar(tiny_vgg: VGGFeatures, optimizer: str) -> None:
    steps: list[int] = []  # the studio's job progress: the bar is off there
    config = opt.OptimizeConfig(steps=6, optimizer=optimizer, **TINY_WEIGHTS)
    opt.optimize(_picture(24, 24, 1), _picture(24, 24, 2), config=config, vgg=tiny_vgg, progress=False,
                 on_step=steps.append)
    assert steps[:6] == [1, 2, 3, 4, 5, 6] and set(steps[6:]) <= {6}


def test_noise_start_and_batches_keep_their_shape(tiny_vgg: VGGFeatures) -> None:
    photos = np.stack([_picture(32, 32, 1), _picture(32, 32, 3)])
    config = opt.OptimizeConfig(steps=3, init="noise", **TINY_WEIGHTS)
    result = opt.optimize(photos, _picture(24, 24, 2), config=config, vgg=tiny_vgg)
    assert result.image.shape == photos.shape


def test_command_writes_the_picture(images: tuple[Path, Path], tiny_weights: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    before = set(tmp_path.iterdir())
    code = opt.main([str(images[0]), str(images[1]), str(out), "--steps", "3", "--size", "40",
                     "--vgg-weights", str(tiny_weights), "--content-weight", "1", "--style-weight", "1e6"])
    assert code == 0
    written = cv2.imread(str(out))
    assert written.shape == (30, 40, 3)  # 48×64 photo, long side 40
    assert "out.png: 40×30, 3 steps" in capsys.readouterr().err
    assert set(tmp_path.iterdir()) - before == {out}  # no partial file left beside it


@pytest.mark.parametrize("case, message", [
    ("missing content", "image not found"),
    ("missing style", "image not found"),
    ("unreadable content", "not an image OpenCV can read"),
    ("missing weights", "VGG weights not found"),
    ("unknown suffix", "cannot write '.xyz' images"),
    ("missing folder", "output folder does not exist"),
])
def test_bad_input_is_one_line_and_no_file(images: tuple[Path, Path], tiny_weights: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], case: str, message: str) -> None:
    content, style, out, weights = str(images[0]), str(images[1]), tmp_path / "out.png", str(tiny_weights)
    if case == "missing content":
        content = str(tmp_path / "nope.jpg")
    elif case == "missing style":
        style = str(tmp_path / "nope.jpg")
    elif case == "unreadable content":
        (tmp_path / "text.jpg").write_text("not a picture")
        content = str(tmp_path / "text.jpg")
    elif case == "missing weights":
        weights = str(tmp_path / "nope.pth")
    elif case == "unknown suffix":
        out = tmp_path / "out.xyz"
    elif case == "missing folder":
        out = tmp_path / "no" / "out.png"
    before = set(tmp_path.rglob("*"))
    code = opt.main([content, style, str(out), "--steps", "2", "--size", "32", "--vgg-weights", weights, "--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("rtstyle: error: ") and message in err and err.count("\n") == 1
    assert set(tmp_path.rglob("*")) == before


def test_default_weights_missing_names_the_option(images: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached, and offline:
    monkeypatch.setenv("RTSTYLE_VGG16_URL", (tmp_path / "nowhere.pth").as_uri())
    assert opt.main([str(images[0]), str(images[1]), str(tmp_path / "out.png"), "--quiet"]) == 2
    assert "--vgg-weights" in capsys.readouterr().err


@needs_shared
def test_real_weights_move_the_style_towards_the_painting() -> None:
    photo = opt.read_rgb(next((SHARED / "data" / "content").glob("*.jpg")), long_side=64)
    painting = opt.read_rgb(SHARED / "data" / "styles" / "starry_night.jpg", long_side=96)
    config = opt.OptimizeConfig(steps=20, vgg_weights=str(SHARED / "weights" / "vgg16-imagenet-features.pth"))
    vgg = opt.load_vgg(config)
    with torch.no_grad():
        _, before = opt.PerceptualLoss(vgg, to_tensor(photo), to_tensor(painting), config)(to_tensor(photo))
    result = opt.optimize(photo, painting, config=config, vgg=vgg)
    assert result.losses.style < 0.5 * before.style


def _write_photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"photo_{i:03d}.png"), _picture(36, 48, i)[..., ::-1])
    return folder


def test_contact_sheet_grid(tiny_model_dir: Path) -> None:
    styles = [StyleInfo.from_file(p) for p in sorted(tiny_model_dir.glob("*.onnx"))]
    photos = [_picture(40, 60, 1)[..., ::-1], _picture(50, 30, 2)[..., ::-1]]
    grid = sheet.contact_sheet(photos, styles, width=420)
    cell = sheet.cell_size(len(styles) + 1, 420)
    assert grid.shape == (3 * cell + 2 * sheet.GAP, 4 * cell + 3 * sheet.GAP, 3)
    assert grid.shape[1] <= 420
    row = grid[cell + sheet.GAP : 2 * cell + sheet.GAP]
    original, first_style = row[:, :cell], row[:, cell + sheet.GAP : 2 * cell + sheet.GAP]
    assert np.abs(original.astype(int) - first_style).mean() > 10


def test_contact_sheet_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "photos", 51)  # every 50th is held out: photo_000 and photo_050
    out = tmp_path / "docs" / "sheet.png"
    assert sheet.main(["--models", str(tiny_model_dir), "--out", str(out), "--photos", "5",
                       "--content-dir", str(photos)]) == 0
    cell = sheet.cell_size(4)
    assert cv2.imread(str(out)).shape == (3 * cell + 2 * sheet.GAP, 4 * cell + 3 * sheet.GAP, 3)


def test_quality_report(tiny_weights: Path, tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "photos", 51)
    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), _picture(48, 48, 9))
    training = {"style": str(painting), "content": [str(photos)], "vgg_weights": str(tiny_weights), "crop": 32,
                "style_size": 48, "content_layer": "relu2_2", "content_weight": 1.0, "style_weight": 1e6,
                "holdout_every": 50}
    torch.manual_seed(0)
    models = tmp_path / "models"
    models.mkdir()
    export_onnx(TransformerNet((8, 16, 16), 1).eval(), models / "tiny.onnx", precision="fp32",
                metadata={"style": "tiny", "training": training})
    export_onnx(TransformerNet((8, 16, 16), 1).eval(), models / "untrained.onnx", precision="fp32",
                metadata={"style": "untrained"})
    export_onnx(FastTransformerNet((8, 8, 8), 1).eval(), models / "tiny_fast.onnx", precision="fp32",
                metadata={"style": "tiny_fast", "base_style": "tiny", "training": training})
    assert quality.main(["--models", str(models), "--photos", "2", "--steps", "5", "--out", str(tmp_path / "docs"),
                         "--quiet"]) == 0
    report = (tmp_path / "docs" / "quality.md").read_text()
    assert "| tiny |" in report and "## tiny" in report and "relu3_3" in report
    assert "| untrained | not scored:" in report and "tiny_fast" not in report
    fast = (tmp_path / "docs" / "quality_fast.md").read_text()
    assert re.search(r"\| tiny_fast \| \d+\.\d\d \| \d+\.\d\d \| (yes|no) \|", fast)
