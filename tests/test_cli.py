"""The command line (rtstyle/cli.py): the console script's exit code and stderr, `image` on a file and a
folder, `styles`, and `demo`, a first impression at a speed worth seeing, with the speed said.
`rtstyle video` is in test_video.py, `webcam` in test_webcam.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtstyle.cli import main
from tests.conftest import MODELS, streams


@pytest.fixture()
def small_clip(clip, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo's own clip is 640×360 × 75 frames; the choice of network does not need that many."""
    monkeypatch.setenv("RTSTYLE_MODELS", str(MODELS))
    monkeypatch.setattr("rtstyle.synthetic.write_clip", lambda path, **_: clip(Path(path).name, width=64, height=48,
                                                                                frames=4))


@pytest.mark.parametrize(("argv", "network"), [([], "starry_night_fast"), (["--style", "udnie"], "udnie")])
def test_demo_paints_with_the_fast_network_on_a_cpu_and_says_its_fps(small_clip: None, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     argv: list[str], network: str) -> None:
    assert main(["demo", str(tmp_path / "demo.mp4"), "--device", "cpu", "--quiet", *argv]) == 0
    said = capsys.readouterr().out
    assert re.fullmatch(rf"wrote .*demo\.mp4: 4 frames of a synthetic scene in {network} at \d+\.\d fps "
                        r"on CPUExecutionProvider\n", said), said


def test_console_script_exit_code_and_stderr(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtstyle", "video", str(tmp_path / "x.mp4"), str(tmp_path / "y.mp4")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"rtstyle: error: input not found: {tmp_path / 'x.mp4'}"]


def test_image_file_and_folder(tiny_models, tmp_path: Path) -> None:
    import cv2

    from rtstyle.synthetic import scene

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (w, h) in enumerate([(64, 48), (33, 71)]):
        cv2.imwrite(str(photos / f"p{i}.png"), scene(i, w, h))
    assert main(["image", str(photos / "p0.png"), str(tmp_path / "one.jpg"), "--quiet"]) == 0
    assert cv2.imread(str(tmp_path / "one.jpg")).shape == (48, 64, 3)
    assert main(["image", str(photos), str(tmp_path / "out"), "--quiet"]) == 0
    outs = {p.name: cv2.imread(str(p)).shape for p in (tmp_path / "out").iterdir()}
    assert outs == {"p0.png": (48, 64, 3), "p1.png": (71, 33, 3)}


def test_styles_command_lists_metadata(tiny_models, capsys) -> None:
    assert main(["styles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed] == tiny_models
    assert listed[0]["title"] == "Tiny tiny_a — random weights (2026)"


def test_demo_needs_nothing_but_a_style(tiny_models, tmp_path: Path) -> None:
    target = tmp_path / "demo.mp4"
    assert main(["demo", str(target), "--quiet"]) == 0
    got = streams(target)
    assert got["frames"] == 75 and got["fps"] == 25 and len(got["audio"]) == 1
