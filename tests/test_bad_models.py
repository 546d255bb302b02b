"""Models you are handed: a file that breaks the model contract is one line and exit 4 everywhere."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rtstyle.cli import main

U8 = TensorProto.UINT8


def _model(folder: Path, name: str, *, input_name: str = "frames", output_name: str = "stylized",
           dtype: int = U8, shape: tuple[str | int, ...] = ("n", "h", "w", 3), op: str = "Identity",
           domain: str = "") -> Path:
    """A one-node graph: frames → stylized, with the names, type and shape asked for."""
    x = helper.make_tensor_value_info(input_name, dtype, list(shape))
    y = helper.make_tensor_value_info(output_name, dtype, list(shape))
    node = helper.make_node(op, [input_name], [output_name], domain=domain)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=opsets, ir_version=9)
    path = folder / f"{name}.onnx"
    onnx.save(model, path)
    return path


def _external_outside(folder: Path) -> Path:
    """A valid graph whose one weight is stored in a file outside the model's folder."""
    (folder / "inside").mkdir()
    (folder / "secret.bin").write_bytes(np.zeros(1, np.uint8).tobytes())
    zero = numpy_helper.from_array(np.zeros(1, np.uint8), "zero")
    zero.data_location = TensorProto.EXTERNAL
    zero.ClearField("raw_data")
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "1")):
        zero.external_data.add(key=key, value=value)
    x = helper.make_tensor_value_info("frames", U8, ["n", "h", "w", 3])
    y = helper.make_tensor_value_info("stylized", U8, ["n", "h", "w", 3])
    graph = helper.make_graph([helper.make_node("Add", ["frames", "zero"], ["stylized"])], "g", [x], [y],
                              initializer=[zero])
    path = folder / "inside" / "outside.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


BAD = {
    "input named image": lambda d: _model(d, "bad", input_name="image"),
    "output named out": lambda d: _model(d, "bad", output_name="out"),
    "float frames": lambda d: _model(d, "bad", dtype=TensorProto.FLOAT),
    "channels first": lambda d: _model(d, "bad", shape=("n", 3, "h", "w")),
    "external data outside its folder": _external_outside,
    "an operator onnxruntime lacks": lambda d: _model(d, "bad", op="NoSuchOp", domain="example.com"),
    "not an ONNX file": lambda d: (d / "bad.onnx").write_bytes(b"\x00not a model\xff" * 50) and d / "bad.onnx",
}


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((32, 48, 3), 90, np.uint8))
    return path


def test_a_model_that_keeps_the_contract_runs(tmp_path: Path, photo: Path) -> None:
    """The table's models are each one change away from this one, which works."""
    model = _model(tmp_path, "identity")
    assert main(["image", str(photo), str(tmp_path / "out.png"), "--style", str(model), "--quiet"]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), cv2.imread(str(photo)))


@pytest.mark.parametrize("case", BAD)
def test_bad_model_is_one_line_and_exit_4(case: str, tmp_path: Path, photo: Path, clip,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = BAD[case](tmp_path)
    video = clip(frames=4, width=32, height=32)
    for argv in (["image", str(photo), str(tmp_path / "out.png")],
                 ["video", str(video), str(tmp_path / "out.mp4")]):
        assert main([*argv, "--style", str(model), "--quiet"]) == 4, argv[0]
        err = capsys.readouterr().err.strip()
        assert err.startswith("rtstyle: error: ") and "\n" not in err, err
        assert str(model) in err
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.mp4").exists()


def test_studio_leaves_a_bad_model_out_of_the_gallery(tmp_path: Path, tiny_model_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("fastapi")
    from rtstyle.serve.settings import ServeSettings
    from rtstyle.serve.state import Studio

    folder = tmp_path / "models"
    folder.mkdir()
    for good in tiny_model_dir.glob("*.onnx"):
        (folder / good.name).write_bytes(good.read_bytes())
    _model(folder, "broken", dtype=TensorProto.FLOAT)
    monkeypatch.setenv("RTSTYLE_MODELS", str(folder))
    studio = Studio.open(ServeSettings(device="cpu", data_dir=tmp_path / "data"))
    try:
        assert "broken" not in studio.paintings and len(studio.paintings) == 3
    finally:
        studio.close()
    lines = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert len(lines) == 1 and "breaks the model contract" in lines[0] and "\n" not in lines[0]
