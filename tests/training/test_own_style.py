"""Your painting as a real-time style: ``rtstyle train PAINTING`` from the shipped networks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rtstyle.cli import main  # noqa: E402
from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.errors import InputError  # noqa: E402
from rtstyle.models import StyleInfo, installed_styles  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from rtstyle.training.convert import read_network  # noqa: E402
from rtstyle.training.data import load_content  # noqa: E402
from rtstyle.training.onnx_export import export_onnx  # noqa: E402
from rtstyle.training.vgg import VGG16_URL_VARIABLE, vgg16_weights  # noqa: E402
from tests.conftest import MODELS  # noqa: E402
from tests.training.conftest import studio_client, train_form, wait_long  # noqa: E402

TINY_RUN = ["--crop", "32", "--content-size", "40", "--style-size", "64", "--batch-size", "1", "--quiet"]


@pytest.mark.parametrize("style", ["udnie", "udnie_fast"])
def test_a_shipped_network_read_back_into_pytorch_exports_the_same_pixels(style: str, tmp_path: Path) -> None:
    shipped = StyleInfo.from_file(MODELS / f"{style}.onnx")
    net = read_network(style)
    assert type(net).__name__.startswith("FastTransformerNet") == style.endswith("_fast")
    margin = {"edge_pad": shipped.metadata["edge_pad"]} if "edge_pad" in shipped.metadata else {}  # measured, kept
    again = export_onnx(net, tmp_path / f"{style}.onnx", precision="fp16", metadata=margin)
    frames = np.stack([scene(i, 96, 64) for i in (0, 40)])
    engines = [Engine([info], EngineConfig(device="cpu")) for info in (shipped, StyleInfo.from_file(again))]
    np.testing.assert_array_equal(engines[0].stylize(frames), engines[1].stylize(frames))


def test_train_from_the_nearest_shipped_network_installs_both_styles(painting: Path, photos: Path, vgg_file: Path,
                                                                     user_models: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(painting), "--content", str(photos), "--vgg-weights", str(vgg_file),
                 "--steps", "2", "--fast-steps", "2", "--run-dir", str(tmp_path / "run"), *TINY_RUN])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in user_models.iterdir()} == {"my_painting.onnx", "my_painting_fast.onnx", "my_painting.jpg"}
    full, fast = StyleInfo.from_file(user_models / "my_painting.onnx"), StyleInfo.from_file(
        user_models / "my_painting_fast.onnx")
    assert (full.variant, fast.variant) == ("full", "fast") and full.base == fast.base == "my_painting"
    assert full.metadata["painting"] == "My Painting" and fast.metadata["steps"] == "2"
    assert (full.metadata["version"], fast.metadata["version"]) == ("1", "2")  # the shipped fast networks' kind
    started = {name: json.loads(s.metadata["training"])["init_from"] for name, s in (("full", full), ("fast", fast))}
    assert Path(started["full"]).parent == MODELS and Path(started["fast"]).stem.endswith("_fast")
    for variant, trained in (("full", full), ("fast", fast)):  # started from the shipped weights, not from scratch
        before, after = read_network(started[variant]).state_dict(), read_network(str(trained.path)).state_dict()
        change = sum((after[k] - before[k]).abs().sum() for k in before) / sum(before[k].abs().sum() for k in before)
        assert change < 0.25, variant  # two Adam steps move weights ~6%; a network from scratch ~100%
    frame = scene(5, 96, 64)
    out = Engine(["my_painting", "my_painting_fast"], EngineConfig(device="cpu")).stylize(frame)
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 10
    capsys.readouterr()
    assert main(["styles"]) == 0
    listed = capsys.readouterr().out
    assert "my_painting " in listed and "my_painting_fast" in listed and "udnie" in listed


def test_ctrl_c_keeps_the_checkpoint_and_resume_goes_on(painting: Path, photos: Path, vgg_file: Path,
                                                        user_models: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import rtstyle.training.train

    steps = {"done": 0}
    real_step = rtstyle.training.train.Trainer.train_step

    def interrupted_at_3(self):  # type: ignore[no-untyped-def]
        if steps["done"] == 3:
            raise KeyboardInterrupt
        steps["done"] += 1
        return real_step(self)

    monkeypatch.setattr(rtstyle.training.train.Trainer, "train_step", interrupted_at_3)
    argv = ["train", str(painting), "--name", "mine", "--content", str(photos), "--vgg-weights", str(vgg_file),
            "--init-from", "none", "--steps", "2", "--fast-steps", "4", "--run-dir", str(tmp_path / "run"), *TINY_RUN]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--resume" in err and str(tmp_path / "run") in err
    saved = torch.load(tmp_path / "run" / "fast" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 1 and not (user_models / "mine_fast.onnx").exists()
    assert main(argv) == 2  # the run is there: without --resume it is not overwritten
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(rtstyle.training.train.Trainer, "train_step", real_step)
    assert main([*argv, "--resume"]) == 0
    assert StyleInfo.from_file(user_models / "mine_fast.onnx").metadata["steps"] == "4"


def test_content_from_a_video_counts_its_distinct_frames(clip, tmp_path: Path) -> None:
    video = clip("moving.mp4", width=96, height=64, fps=25, frames=60)
    images = load_content([video], short_side=40, frames_per_video=200, minimum=50)
    assert len(images) == 60 and images[0].shape == (40, 60, 3)
    still = tmp_path / "still"
    still.mkdir()
    for i in range(70):  # the same picture seventy times is one image
        cv2.imwrite(str(still / f"s{i}.png"), scene(0, 64, 48))
    with pytest.raises(InputError, match=r"^only 1 distinct content images found .* at least 50"):
        load_content([still], short_side=40)
    with pytest.raises(InputError, match=r"only 61 distinct"):
        load_content([video, still], short_side=40, minimum=62)


def test_vgg_weights_come_through_torch_hub_once(vgg_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(VGG16_URL_VARIABLE, vgg_file.as_uri())
    state, source = vgg16_weights(None, progress=False)
    assert Path(source) == tmp_path / "torch" / "hub" / "checkpoints" / vgg_file.name and Path(source).is_file()
    assert torch.equal(state["features.0.weight"], torch.load(vgg_file, weights_only=True)["features.0.weight"])
    vgg_file.rename(vgg_file.with_suffix(".gone"))  # offline now: the cached copy is used
    try:
        assert vgg16_weights(None, progress=False)[1] == source
        Path(source).unlink()
        with pytest.raises(InputError, match=r"cannot fetch the VGG16 weights .*give --vgg-weights PATH"):
            vgg16_weights(None, progress=False)
    finally:
        vgg_file.with_suffix(".gone").rename(vgg_file)


def test_too_few_photos_is_one_line_with_the_count(painting: Path, photos: Path, vgg_file: Path, user_models: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for extra in sorted(photos.iterdir())[10:]:
        extra.unlink()
    assert main(["train", str(painting), "--content", str(photos), "--vgg-weights", str(vgg_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtstyle: error: only 10 distinct content images") and "\n" not in err
    assert not user_models.exists() and not any(s.base == "my_painting" for s in installed_styles())


# --- in the studio: "Make it a live style" -----------------------------------------------------------------


def test_studio_makes_a_live_style_that_joins_the_gallery(painting: Path, photos: Path, vgg_file: Path,
                                                          user_models: Path, tmp_path: Path) -> None:
    with studio_client(tmp_path, vgg_file) as client:
        before = {s["name"] for s in client.get("/api/styles").json()}
        r = client.post("/api/styles/train", files=train_form(painting, photos),
                        data={"steps": "1", "fast_steps": "2"})
        assert r.status_code == 202, r.text
        assert r.json()["kind"] == "train" and r.json()["frames_total"] == 3 and r.json()["style"] == "sunflowers"
        job = wait_long(client, r.json()["id"], ("done", "failed"))
        assert job["state"] == "done" and job["frames_done"] == 3, job
        styles = {s["name"]: s for s in client.get("/api/styles").json()}
        assert set(styles) - before == {"sunflowers"} and styles["sunflowers"]["network"] == "sunflowers_fast"
        assert client.get("/api/styles/sunflowers/thumbnail").status_code == 200
        photo = cv2.imencode(".png", scene(2, 64, 48))[1].tobytes()
        painted = client.post("/api/stylize", files={"image": ("p.png", photo)}, data={"style": "sunflowers"})
        assert painted.status_code == 200, painted.text
        model = client.get(job["result"])
        assert model.status_code == 200 and model.content == (user_models / "sunflowers_fast.onnx").read_bytes()
    from rtstyle.serve.routes.jobs import _free_name

    assert _free_name("Sunflowers") == "sunflowers_2"  # a second one never replaces the first


def test_studio_training_cancelled_leaves_nothing(painting: Path, photos: Path, vgg_file: Path, user_models: Path,
                                                  tmp_path: Path) -> None:
    with studio_client(tmp_path, vgg_file) as client:
        r = client.post("/api/styles/train", files=train_form(painting, photos), data={"steps": "500"})
        job = wait_long(client, r.json()["id"], ("running",))
        while client.get(f"/api/jobs/{job['id']}").json()["frames_done"] < 1:
            pass
        assert client.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        folder = tmp_path / "data" / "jobs" / job["id"]
        for _ in range(300):  # the job stops at its next step and its folder (checkpoints too) goes
            if not folder.exists():
                break
            time.sleep(0.1)
        assert not folder.exists()
        assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
    assert not user_models.exists() or not any(user_models.iterdir())


def test_studio_training_refuses_too_few_photos_and_says_so_without_torch(painting: Path, photos: Path,
                                                                         vgg_file: Path, user_models: Path,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with studio_client(tmp_path, vgg_file) as client:
        form = train_form(painting, photos)[:11]  # the painting and 10 photos
        r = client.post("/api/styles/train", files=form)
        assert r.status_code == 400 and r.json()["error"].startswith("only 10 distinct content images")
        assert client.get("/api/jobs").json() == [] and [p.name for p in (tmp_path / "data" / "jobs").iterdir()] == []
        monkeypatch.setattr("rtstyle.serve.routes.jobs.torch_missing",
                            lambda: "your painting needs PyTorch on the server: pip install 'rtstyle[train]'")
        r = client.post("/api/styles/train", files=form)
        assert r.status_code == 503 and "rtstyle[train]" in r.json()["error"]


def test_a_run_begun_on_the_first_fast_network_resumes_on_it(painting: Path, photos: Path, vgg_file: Path,
                                                            user_models: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A run interrupted before an upgrade goes on with the network it began, not a new kind of network."""
    import rtstyle.training.schedule

    argv = ["train", str(painting), "--name", "old", "--content", str(photos), "--vgg-weights", str(vgg_file),
            "--init-from", "none", "--steps", "1", "--fast-steps", "2", "--run-dir", str(tmp_path / "run"), *TINY_RUN]
    monkeypatch.setattr(rtstyle.training.schedule, "VERSIONS", {"full": 1, "fast": 1})
    assert main(argv) == 0
    checkpoint = tmp_path / "run" / "fast" / "checkpoint.pt"
    saved = torch.load(checkpoint, weights_only=True)
    saved["step"] = 1  # as if stopped half way
    torch.save(saved, checkpoint)
    monkeypatch.setattr(rtstyle.training.schedule, "VERSIONS", {"full": 1, "fast": 2})
    assert main([*argv, "--resume"]) == 0
    fast = StyleInfo.from_file(user_models / "old_fast.onnx")
    assert (fast.metadata["version"], fast.metadata["steps"]) == ("1", "2")


def test_a_narrower_fast_network_starts_from_the_channels_that_carry_the_shipped_one(
        painting: Path, photos: Path, vgg_file: Path, user_models: Path, tmp_path: Path) -> None:
    """--channels with a narrower first width than a v2 network's: its kept channels' weights, not a new network."""
    shipped = read_network("udnie_fast")
    width = shipped.channels[0] - 8
    argv = ["train", str(painting), "--name", "thin", "--content", str(photos), "--vgg-weights", str(vgg_file),
            "--variant", "fast", "--teacher", "udnie", "--init-from", "udnie_fast",
            "--channels", ",".join(map(str, (width, *shipped.channels[1:]))),
            "--steps", "1", "--run-dir", str(tmp_path / "run"), *TINY_RUN]
    assert main(argv) == 0
    thin = read_network(str(user_models / "thin_fast.onnx"))
    assert thin.channels == (width, *shipped.channels[1:])
    # each of conv2's input channels is one of the shipped network's, moved by one step at most
    columns = shipped.conv2.weight.transpose(0, 1).flatten(1)
    for column in thin.conv2.weight.detach().transpose(0, 1).flatten(1):
        nearest = (columns - column).norm(dim=1).min()
        assert nearest < 0.1 * column.norm()
