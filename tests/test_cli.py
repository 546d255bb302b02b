"""`rtstyle demo`: a first impression at a speed worth seeing, and the speed said."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtstyle.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture()
def small_clip(clip, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo's own clip is 640×360 × 75 frames; the choice of network does not need that many."""
    monkeypatch.setenv("RTSTYLE_MODELS", str(SHIPPED))
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
