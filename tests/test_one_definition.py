"""Facts that live once: the batch-size rule, a painting's thumbnail, the atomic image write and the
one-line form of a library's error; every command and the studio use the same one."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle.engine import default_batch_size
from rtstyle.errors import OutputError, first_line
from rtstyle.images import write_image, write_thumbnail
from rtstyle.models import StyleInfo, thumbnail_path

ROOT = Path(__file__).resolve().parents[1]


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for d in ("rtstyle", "export") for p in (ROOT / d).rglob("*.py")}


@pytest.mark.parametrize(("provider", "batch"), [("CPUExecutionProvider", 1), ("CUDAExecutionProvider", 8),
                                                 ("TensorrtExecutionProvider", 8)])
def test_batch_size_rule(provider: str, batch: int) -> None:
    assert default_batch_size(provider) == batch


@pytest.mark.parametrize("fact", ['"CPUExecutionProvider" else 8', "os.replace(partial", 'f"{s.base}.jpg"',
                                  'f"{style.base}.jpg"', "def _first_line"])
def test_each_fact_is_written_once(fact: str) -> None:
    where = sorted(path for path, text in _sources().items() if fact in text)
    allowed = {"os.replace(partial": {"rtstyle/images.py", "rtstyle/video.py", "rtstyle/batch/chunks.py"},  # videos
               '"CPUExecutionProvider" else 8': {"rtstyle/engine.py"}}
    assert set(where) <= allowed.get(fact, set()), f"{fact!r} again in {where}"


def test_thumbnail_beside_the_networks(tmp_path: Path) -> None:
    fast = StyleInfo("sunflowers_fast", tmp_path / "sunflowers_fast.onnx", {"base_style": "sunflowers"})
    assert fast.thumbnail == thumbnail_path(tmp_path, "sunflowers") == tmp_path / "sunflowers.jpg"
    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), np.full((900, 600, 3), 80, np.uint8))
    written = write_thumbnail(painting, fast.thumbnail)
    assert written == fast.thumbnail and cv2.imread(str(written)).shape == (320, 213, 3)


def test_image_write_is_atomic(tmp_path: Path) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    assert write_image(tmp_path / "a.png", image).read_bytes().startswith(b"\x89PNG")
    with pytest.raises(OutputError, match="cannot encode '.nope' images"):
        write_image(tmp_path / "b.nope", image)
    with pytest.raises(OutputError, match="cannot write"):
        write_image(tmp_path / "missing" / "c.png", image)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png"]


def test_first_line() -> None:
    assert first_line(RuntimeError("\n  the reason  \nthe details\n")) == "RuntimeError: the reason"
    assert first_line(KeyError()) == "KeyError"


def test_the_studio_and_the_commands_call_the_same_ones() -> None:
    calls: dict[str, set[str]] = {}
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                calls.setdefault(node.func.id, set()).add(path)
    assert {"rtstyle/pipeline.py", "rtstyle/batch/chunks.py", "rtstyle/serve/state.py"} <= calls["default_batch_size"]
    assert {"rtstyle/pipeline.py", "rtstyle/training/optimize.py", "export/contact_sheet.py"} <= calls["write_image"]
    assert {"rtstyle/training/schedule.py", "export/thumbnail.py"} <= calls["write_thumbnail"]
