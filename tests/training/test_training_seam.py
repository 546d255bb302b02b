"""The runtime reaches the torch side through typed requests, and every command and the studio find
the VGG16 weights the same way: ``--vgg-weights``, then torch's hub cache, then ``$RTSTYLE_VGG16_URL``."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

pytest.importorskip("torch")
pytest.importorskip("fastapi")

from rtstyle.cli import main  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from rtstyle.training import TrainRequest  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.training.conftest import studio_client, train_form, wait_long  # noqa: E402


@pytest.fixture()
def online(vgg_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and ``$RTSTYLE_VGG16_URL`` naming the (random) VGG16 file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RTSTYLE_VGG16_URL", vgg_file.as_uri())
    return tmp_path / "torch" / "hub" / "checkpoints" / vgg_file.name


@pytest.fixture()
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty cache and a source that cannot be reached; the one line every command says then."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = (tmp_path / "unreachable" / "vgg16-397923af.pth").as_uri()
    monkeypatch.setenv("RTSTYLE_VGG16_URL", url)
    return f"cannot fetch the VGG16 weights from {url} ("


def _photo_pair(tmp_path: Path) -> list[str]:
    photo, art = tmp_path / "photo.png", tmp_path / "art.png"
    cv2.imwrite(str(photo), scene(0, 48, 32))
    cv2.imwrite(str(art), scene(60, 48, 32)[:, ::-1])
    return [str(photo), str(art)]


def test_optimize_finds_the_weights_as_train_does(online: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    assert main(["optimize", *_photo_pair(tmp_path), str(out), "--steps", "2", "--size", "32", "--quiet"]) == 0
    assert cv2.imread(str(out)).shape == (21, 32, 3) and online.is_file()  # fetched once into torch's cache


def test_offline_every_command_and_the_studio_say_the_same_line(offline: str, painting: Path, photos: Path,
                                                                vgg_file: Path, user_models: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    lines = []
    for argv in (["optimize", *_photo_pair(tmp_path), str(tmp_path / "out.png"), "--steps", "2", "--quiet"],
                 ["train", str(painting), "--content", str(photos), "--steps", "1", "--fast-steps", "1", "--quiet"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"rtstyle: error: {offline}") and "--vgg-weights PATH" in err
        lines.append(err.removeprefix("rtstyle: error: ").strip())
    assert lines[0] == lines[1]
    with studio_client(tmp_path, None) as client:  # type: ignore[arg-type]
        pair = [Path(p).read_bytes() for p in _photo_pair(tmp_path)]
        r = client.post("/api/optimize", files={"image": ("p.png", pair[0]), "painting": ("a.png", pair[1])},
                        data={"steps": "2", "size": "32"})
        job = wait_long(client, r.json()["id"], ("done", "failed"))
    assert job["state"] == "failed" and job["error"] == lines[0]


def test_a_named_file_that_is_missing_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.pth"
    assert main(["optimize", *_photo_pair(tmp_path), str(tmp_path / "o.png"), "--vgg-weights", str(missing)]) == 2
    assert capsys.readouterr().err == f"rtstyle: error: VGG weights not found: {missing}\n"


def test_the_studio_trains_through_a_request_and_counts_steps_as_steps(
        painting: Path, photos: Path, vgg_file: Path, user_models: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import rtstyle.training
    from rtstyle.training import schedule

    def no_command_line(argv: list[str]) -> None:
        raise AssertionError(f"the studio wrote a command line: {argv}")

    requests: list[TrainRequest] = []
    train_style = rtstyle.training.train_style
    monkeypatch.setattr(schedule, "parse", no_command_line)
    monkeypatch.setattr(rtstyle.training, "train_style", lambda request, **kw: requests.append(request)
                        or train_style(request, **kw))
    with studio_client(tmp_path, vgg_file) as client:
        r = client.post("/api/styles/train", files=train_form(painting, photos), data={"steps": "1",
                                                                                        "fast_steps": "1"})
        assert r.status_code == 202, r.text
        queued = r.json()
        assert queued["progress"] == {"done": 0, "total": 2, "unit": "steps", "per_second": 0.0}
        job = wait_long(client, queued["id"], ("done", "failed"))
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["steps_done"] == job["steps_total"] == 2
    assert job["frames_done"] == 2  # the page's counter until it reads progress
    [request] = requests
    assert request.vgg_weights == vgg_file and request.steps == request.fast_steps == 1
    assert request.painting.parent == tmp_path / "data" / "jobs" / job["id"]


def test_a_video_job_counts_frames(clip, tiny_models: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with studio_client(tmp_path, None) as client:  # type: ignore[arg-type]
        video = clip(width=64, height=48, frames=6).read_bytes()
        r = client.post("/api/jobs", files={"video": ("in.mp4", video)}, data={"style": tiny_models[0]})
        job = wait_long(client, r.json()["id"], ("done", "failed"))
    assert job["progress"]["unit"] == "frames" and job["frames_done"] == job["progress"]["done"] == 6
    assert "steps_done" not in job


@pytest.mark.parametrize("command", ["train", "optimize", "convert"])
def test_without_torch_each_torch_command_names_the_extra(command: str) -> None:
    import subprocess
    import sys

    script = ("import sys; sys.modules['torch'] = None  # as if it were not installed\n"
              f"from rtstyle.cli import main; sys.exit(main([{command!r}, 'a', 'b', 'c']))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "rtstyle: error: this needs PyTorch (torch is missing): pip install 'rtstyle[train]'\n"
