"""Training: the loss falls, a resumed run continues identically, the export runs in the runtime."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.models import StyleInfo  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from rtstyle.training.train import Losses, TrainConfig, Trainer, load_network, train  # noqa: E402
from rtstyle.training.vgg import VGGFeatures  # noqa: E402


@pytest.fixture()
def config(tmp_path: Path) -> TrainConfig:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        cv2.imwrite(str(photos / f"p{i}.png"), scene(i * 9, 64 + 8 * i, 48))
    style = tmp_path / "style.png"
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = (40, 200, 240)
    cv2.imwrite(str(style), stripes)
    return TrainConfig(style=str(style), content=(str(photos),), vgg_weights=None, name="tiny", min_content=8,
                       run_dir=str(tmp_path / "run"), steps=4, batch_size=2, crop=32, content_size=40,
                       style_size=64, channels=(8, 16, 16), n_residual=1, holdout_every=4,
                       checkpoint_every=2, sample_every=2, export_dir=str(tmp_path / "models"), lr=1e-2,
                       metadata=(("painting", "Stripes"), ("license", "test")))


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    """A VGG16 stand-in: the real layer layout with random weights (no download, no ../shared)."""
    torch.manual_seed(0)
    return VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3"), weights=None)


def losses_before_and_after(trainer: Trainer, steps: int) -> tuple[Losses, Losses]:
    """The trainer's loss terms on one fixed batch, before and after ``steps`` training steps."""
    fixed = trainer.sampler.batch(0, 4)
    before = trainer.losses(fixed)[1]
    for _ in range(steps):
        trainer.train_step()
    return before, trainer.losses(fixed)[1]


def test_loss_falls(config: TrainConfig, vgg: VGGFeatures) -> None:
    before, after = losses_before_and_after(Trainer(replace(config, style_weight=1e6), vgg=vgg), 25)
    assert after.total < 0.7 * before.total


def test_resume_continues_identically(config: TrainConfig, vgg: VGGFeatures) -> None:
    straight = train(replace(config, run_dir=config.run_dir + "_a", export_dir=None), quiet=True, vgg=vgg)
    half = replace(config, steps=2, run_dir=config.run_dir + "_b", export_dir=None)
    train(half, quiet=True, vgg=vgg)  # saves at step 2 and "stops"
    resumed = train(replace(half, steps=4), resume=True, quiet=True, vgg=vgg)
    assert resumed.step == 4
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_resume_takes_the_new_learning_rate(config: TrainConfig, vgg: VGGFeatures) -> None:
    train(replace(config, steps=2, export_dir=None), quiet=True, vgg=vgg)
    resumed = Trainer(replace(config, lr=1e-4), vgg=vgg)
    resumed.load()
    resumed.train_step()
    assert resumed.step == 3
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [1e-4]


def test_an_annealed_run_settles_and_resumes_on_its_curve(config: TrainConfig, vgg: VGGFeatures) -> None:
    config = replace(config, anneal=True, steps=8)
    torch.manual_seed(0)
    straight = Trainer(config, vgg=vgg)
    rates = [straight.rate(step) for step in range(config.steps + 1)]
    assert rates[0] == config.lr and rates[-1] == 0.0 and rates == sorted(rates, reverse=True)
    for _ in range(4):
        straight.train_step()
    torch.manual_seed(0)
    stopped = Trainer(replace(config, run_dir=config.run_dir + "_b"), vgg=vgg)
    for _ in range(2):
        stopped.train_step()
    stopped.save()
    resumed = Trainer(replace(config, run_dir=config.run_dir + "_b"), vgg=vgg)
    resumed.load()
    for _ in range(2):
        resumed.train_step()
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [rates[3]]
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_run_folder_and_export_load_in_the_runtime(config: TrainConfig, vgg: VGGFeatures) -> None:
    train(config, quiet=True, vgg=vgg)
    run = Path(config.run_dir)
    assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()
    samples = sorted((run / "samples").glob("*.png"))
    assert [p.name for p in samples] == ["step_000002.png", "step_000004.png"]
    assert cv2.imread(str(samples[-1])).shape == (2 * 256, 2 * 256, 3)  # 2 held-out photos: top and bottom row
    info = StyleInfo.from_file(Path(config.export_dir) / "tiny.onnx")
    assert info.metadata["painting"] == "Stripes" and info.metadata["steps"] == "4"
    frame = scene(3, 50, 30)
    out = Engine([info], EngineConfig(device="cpu")).stylize(frame)
    assert out.shape == frame.shape and not np.array_equal(out, frame)
    net = load_network(run / "checkpoint.pt")
    assert sum(p.numel() for p in net.parameters()) < 50_000


def test_fast_variant_distils_from_a_teacher(config: TrainConfig, vgg: VGGFeatures) -> None:
    teacher_run = train(replace(config, run_dir=config.run_dir + "_t", export_dir=None), quiet=True, vgg=vgg)
    student = Trainer(replace(config, variant="fast", channels=(8, 8, 8), n_residual=1, content_weight=0,
                              style_weight=0, distill_weight=1.0, lr=1e-2,
                              teacher=str(teacher_run.checkpoint_path)), vgg=vgg)
    before, after = losses_before_and_after(student, 30)
    assert after.distill < 0.7 * before.distill


def test_the_spectrum_term_is_learnt_against(config: TrainConfig, vgg: VGGFeatures) -> None:
    trainer = Trainer(replace(config, content_weight=0, style_weight=0, spectrum_weight=1.0), vgg=vgg)
    before, after = losses_before_and_after(trainer, 30)
    assert before.spectrum > 0 and after.spectrum < 0.7 * before.spectrum and after.total == after.spectrum


def test_the_border_term_is_learnt_against(config: TrainConfig, vgg: VGGFeatures) -> None:
    trainer = Trainer(replace(config, content_weight=0, style_weight=0, border_weight=1e3, border_margin=8, lr=1e-3),
                      vgg=vgg)
    before, after = losses_before_and_after(trainer, 30)
    assert before.border > 0 and after.border < 0.7 * before.border and after.total == after.border


def test_the_border_term_fits_its_margin_to_a_small_crop(config: TrainConfig, vgg: VGGFeatures) -> None:
    """The default 32-pixel margin on 32-pixel crops (``rtstyle train --crop 32 --border-weight ...``)."""
    assert config.crop <= TrainConfig.border_margin
    trainer = Trainer(replace(config, content_weight=0, style_weight=0, border_weight=1e3), vgg=vgg)
    before, after = losses_before_and_after(trainer, 3)
    assert before.border > 0 and after.total == after.border


def test_the_shift_term_is_learnt_against(config: TrainConfig, vgg: VGGFeatures) -> None:
    trainer = Trainer(replace(config, content_weight=0, style_weight=0, shift_weight=1e3, lr=1e-3), vgg=vgg)
    before, after = losses_before_and_after(trainer, 30)
    assert before.shift > 0 and after.shift < 0.7 * before.shift and after.total == after.shift


def test_the_noise_term_is_learnt_against(config: TrainConfig, vgg: VGGFeatures) -> None:
    trainer = Trainer(replace(config, content_weight=0, style_weight=0, noise_weight=1e3, lr=1e-3), vgg=vgg)
    before, after = losses_before_and_after(trainer, 30)
    assert before.noise > 0 and after.noise < 0.7 * before.noise and after.total == after.noise


def test_feature_distance_is_relative_per_layer() -> None:
    from rtstyle.training.losses import feature_distance

    big, small = torch.rand(2, 8, 6, 6) * 100, torch.rand(2, 4, 3, 3)
    assert feature_distance((big, small), (big, small)).item() == 0
    # Missing a layer entirely costs 1 whatever its scale, so deep and shallow layers weigh alike.
    zero = feature_distance((torch.zeros_like(big), torch.zeros_like(small)), (big, small)).item()
    assert zero == pytest.approx(2.0)
    assert feature_distance((big * 0.5, small), (big, small)).item() == pytest.approx(0.25)


@pytest.mark.parametrize("variant", ["full", "fast"])
def test_deepened_network_starts_where_the_shallow_one_was(config: TrainConfig, vgg: VGGFeatures,
                                                           variant: str) -> None:
    shallow = train(replace(config, variant=variant, export_dir=None), quiet=True, vgg=vgg)
    deep = Trainer(replace(config, variant=variant, n_residual=3, init_from=str(shallow.checkpoint_path),
                           run_dir=config.run_dir + "_deep"), vgg=vgg)
    photos = deep.sampler.batch(0, 2)
    with torch.no_grad():
        assert torch.allclose(deep.net.eval()(photos), shallow.net.eval()(photos), atol=1e-3)
    deep.train_step()  # and the new blocks learn: their zeroed scales move off zero
    assert deep.net.res[2].in2.weight.abs().sum() > 0


def test_a_run_started_from_a_network_starts_another_in_its_widths(config: TrainConfig, vgg: VGGFeatures) -> None:
    # A run that took its widths from --init-from saved no widths, so its checkpoint could not start
    # another run (or be read back): it was rebuilt at the default widths and refused as a size mismatch.
    first = train(replace(config, export_dir=None), quiet=True, vgg=vgg)
    second = train(replace(config, channels=None, n_residual=None, init_from=str(first.checkpoint_path),
                           run_dir=config.run_dir + "_second", export_dir=None), quiet=True, vgg=vgg)
    third = Trainer(replace(config, channels=None, n_residual=None, init_from=str(second.checkpoint_path),
                            run_dir=config.run_dir + "_third"), vgg=vgg)
    assert (third.net.channels, third.net.n_residual) == (config.channels, config.n_residual)
    for name, weights in second.net.state_dict().items():
        assert torch.equal(third.net.state_dict()[name], weights), name


def test_a_checkpoint_of_other_widths_is_refused(config: TrainConfig, vgg: VGGFeatures) -> None:
    shallow = train(replace(config, export_dir=None), quiet=True, vgg=vgg)
    with pytest.raises(RuntimeError, match="size mismatch"):
        Trainer(replace(config, channels=(8, 16, 24), init_from=str(shallow.checkpoint_path)), vgg=vgg)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory, vgg: VGGFeatures) -> Path:
    """The random stand-in as a state dict file with torchvision's keys, for the command line."""
    path = tmp_path_factory.mktemp("vgg") / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in vgg.features.state_dict().items()}, path)
    return path


def test_train_command_takes_its_own_options(config: TrainConfig, vgg_file: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from rtstyle.cli import main

    with pytest.raises(SystemExit) as help_exit:
        main(["train", "-h"])
    assert help_exit.value.code == 0 and "usage: rtstyle train" in capsys.readouterr().out
    models = Path(config.run_dir).parent / "cli_models"
    assert main(["-v", "train", "--style", config.style, "--content-dir", config.content[0], "--name", "cli",
                 "--steps", "2", "--batch-size", "2", "--crop", "32", "--content-size", "40", "--style-size", "64",
                 "--variant", "full", "--channels", "8,16,16", "--n-residual", "1", "--holdout-every", "4",
                 "--min-content", "8", "--init-from", "none", "--quiet", "--vgg-weights", str(vgg_file),
                 "--run-dir", config.run_dir, "--export-dir", str(models)]) == 0
    assert StyleInfo.from_file(models / "cli.onnx").metadata["steps"] == "2"


@pytest.mark.parametrize("bad", ["missing_folder", "empty_folder", "missing_style"])
def test_train_command_bad_input_is_one_line(config: TrainConfig, vgg_file: Path, tmp_path: Path, capsys,
                                             bad: str) -> None:
    from rtstyle.cli import main

    (tmp_path / "empty").mkdir()
    style, content = config.style, config.content[0]
    if bad == "missing_folder":
        content = str(tmp_path / "nowhere")
    elif bad == "empty_folder":
        content = str(tmp_path / "empty")
    else:
        style = str(tmp_path / "nowhere.jpg")
    code = main(["train", "--style", style, "--content-dir", content, "--name", "x", "--run-dir", config.run_dir,
                 "--vgg-weights", str(vgg_file), "--init-from", "none"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("rtstyle: error: ") and "\n" not in err
    assert not Path(config.run_dir).exists()
