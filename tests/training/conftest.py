"""What the tests of your own style share (test_own_style.py, test_training_seam.py): a random-weight
VGG16 file, 52 photos, a painting, a user model folder, and the studio with a job waited on.
Torch is imported only inside the fixtures that need it."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle.synthetic import scene
from tests.conftest import MODELS, wait_for


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VGG16's layout with random weights, saved with torchvision's keys (no download, no ../shared)."""
    torch = pytest.importorskip("torch")
    from rtstyle.training.vgg import VGGFeatures

    torch.manual_seed(0)
    features = VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")).features
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(52):
        cv2.imwrite(str(folder / f"p{i:02d}.jpg"), scene(i * 9, 64, 48))
    return folder


@pytest.fixture()
def painting(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    strokes = cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (96, 96), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "My Painting.png"
    cv2.imwrite(str(path), strokes)
    return path


@pytest.fixture()
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user model folder first, the shipped styles after it."""
    folder = tmp_path / "mine"
    monkeypatch.setenv("RTSTYLE_MODELS", f"{folder}{os.pathsep}{MODELS}")
    return folder


def studio_client(tmp_path: Path, vgg_file: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rtstyle.serve.app import create_app
    from rtstyle.serve.settings import ServeSettings

    settings = ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1, vgg_weights=vgg_file)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def train_form(painting: Path, photos: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [("painting", ("Sunflowers.png", painting.read_bytes())),
            *[("content", (p.name, p.read_bytes())) for p in sorted(photos.iterdir())]]


def wait_long(client, job_id: str, states: tuple[str, ...]) -> dict:  # type: ignore[no-untyped-def]
    return wait_for(client, job_id, states, timeout=120)
