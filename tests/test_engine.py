"""Engine: any frame size in, the same size out; batching, styles, providers."""

from __future__ import annotations

import shutil

import numpy as np
import onnxruntime as ort
import pytest

from rtstyle.engine import Engine, EngineConfig
from rtstyle.errors import InputError, ProviderError


@pytest.fixture()
def engine(tiny_models: list[str]) -> Engine:
    return Engine(tiny_models, EngineConfig(device="cpu"))


def _frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("h, w", [(1, 1), (5, 7), (16, 16), (37, 53), (120, 67), (64, 36), (180, 320)])
def test_output_has_the_input_size(engine: Engine, h: int, w: int) -> None:
    frames = _frames(2, h, w)
    out = engine.stylize(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frames)


def test_single_frame_in_single_frame_out(engine: Engine) -> None:
    frame = _frames(1, 30, 40)[0]
    assert engine.stylize(frame).shape == frame.shape


def test_batched_equals_one_by_one(engine: Engine) -> None:
    frames = _frames(4, 48, 64)
    batched = engine.stylize(frames)
    single = np.stack([engine.stylize(f) for f in frames])
    np.testing.assert_array_equal(batched, single)


def test_switching_style_changes_output_without_reloading(engine: Engine, tiny_models: list[str]) -> None:
    frames = _frames(1, 32, 32)
    sessions = dict(engine._sessions)
    first = engine.stylize(frames)
    assert engine.select(1) == tiny_models[1]
    second = engine.stylize(frames)
    assert not np.array_equal(first, second)
    assert engine._sessions == sessions  # the same session objects: nothing was reloaded
    assert engine.select(tiny_models[0]) == tiny_models[0]
    np.testing.assert_array_equal(engine.stylize(frames), first)


def test_a_model_paints_at_its_own_default_stroke_size(tiny_model_dir, tiny_models: list[str], tmp_path) -> None:
    from export.edge_pad import write_metadata

    frames = _frames(1, 90, 160)
    plain = Engine(tiny_models[:1], EngineConfig(device="cpu"))
    assert plain.stroke_size() == 4.0  # the tiny models' own (conftest)
    bold_file = tmp_path / "bold.onnx"
    shutil.copy(tiny_model_dir / f"{tiny_models[0]}.onnx", bold_file)
    write_metadata(bold_file, stroke_size="2")
    bold = Engine([str(bold_file)], EngineConfig(device="cpu"))
    assert bold.stroke_size() == 2.0
    np.testing.assert_array_equal(bold.stylize(frames), plain.stylize(frames, stroke=2.0))
    assert not np.array_equal(bold.stylize(frames), plain.stylize(frames))
    np.testing.assert_array_equal(Engine([str(bold_file)], EngineConfig(device="cpu", stroke=4.0)).stylize(frames),
                                  plain.stylize(frames))


def test_fp16_graph_agrees_with_fp32(tiny_models: list[str]) -> None:
    frames = _frames(2, 64, 96)
    fp32 = Engine(tiny_models[:1], EngineConfig(device="cpu", precision="fp32")).stylize(frames)
    fp16 = Engine(tiny_models[:1], EngineConfig(device="cpu", precision="fp16")).stylize(frames)
    assert np.abs(fp32.astype(int) - fp16.astype(int)).mean() < 1.0


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((1, 8, 8, 4), np.uint8),
                                 np.zeros((8, 8), np.uint8)])
def test_bad_frames_are_rejected(engine: Engine, bad: np.ndarray) -> None:
    with pytest.raises(InputError, match="uint8 N×H×W×3 BGR"):
        engine.stylize(bad)


def test_unknown_style_selection(engine: Engine) -> None:
    with pytest.raises(InputError, match="not loaded"):
        engine.select("nope")


@pytest.mark.parametrize(("precision", "want"), [("auto", "fp32"), ("fp16", "fp16"), ("fp32", "fp32")])
def test_auto_on_a_machine_without_nvidia_runs_on_the_cpu(tiny_models: list[str], monkeypatch: pytest.MonkeyPatch,
                                                           precision: str, want: str) -> None:
    monkeypatch.setattr("rtstyle.engine.nvidia_driver_present", lambda: False)
    engine = Engine(tiny_models[:1], EngineConfig(precision=precision))
    assert engine.provider == "CPUExecutionProvider" and engine.precision == want
    assert engine._sessions[tiny_models[0]].session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_asked_for_gpu_provider_that_cannot_load_is_an_error(tiny_models: list[str], device: str) -> None:
    try:
        engine = Engine(tiny_models[:1], EngineConfig(device=device))
    except ProviderError as exc:
        assert f"--device {device}" in str(exc) and "ExecutionProvider" in str(exc)
    else:  # a machine with a working GPU provider
        assert engine.provider.lower().startswith(device[:4])


def test_unknown_device_is_an_error() -> None:
    with pytest.raises(ProviderError, match="unknown device"):
        EngineConfig(device="tpu")


def test_io_binding_gives_the_same_frames(tiny_models: list[str]) -> None:
    frames = _frames(3, 40, 56)
    plain = Engine(tiny_models[:1], EngineConfig(device="cpu", io_binding=False))
    bound = Engine(tiny_models[:1], EngineConfig(device="cpu", io_binding=True))
    first = bound.stylize(frames)
    np.testing.assert_array_equal(first, plain.stylize(frames))
    second = bound.stylize(frames[::-1].copy())  # reuses the buffers: earlier results must not change
    np.testing.assert_array_equal(second, first[::-1])
    np.testing.assert_array_equal(bound.stylize(frames[:1]), first[:1])  # a new shape



def _spins(engine: Engine) -> bool:
    options = engine._sessions[engine.style].session.get_session_options()
    try:
        return options.get_session_config_entry("session.intra_op.allow_spinning") != "0"
    except RuntimeError:  # not set: onnxruntime's default, spinning
        return True


def test_spin_off_reaches_onnxruntime_and_changes_no_pixel(tiny_models: list[str]) -> None:
    frames = _frames(2, 40, 56)
    spinning = Engine(tiny_models[:1], EngineConfig(device="cpu"))
    idle = Engine(tiny_models[:1], EngineConfig(device="cpu", spin=False))
    assert _spins(spinning) and not _spins(idle)
    np.testing.assert_array_equal(idle.stylize(frames), spinning.stylize(frames))


@pytest.mark.gpu
@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(), reason="no onnxruntime-gpu")
def test_cuda_fp16_matches_cpu_fp32(tiny_models: list[str]) -> None:
    try:
        gpu = Engine(tiny_models[:1], EngineConfig(device="cuda", precision="fp16"))
    except ProviderError as exc:
        pytest.skip(str(exc))
    frames = _frames(4, 72, 128)
    cpu = Engine(tiny_models[:1], EngineConfig(device="cpu", precision="fp32")).stylize(frames)
    assert np.abs(gpu.stylize(frames).astype(int) - cpu).mean() < 1.0
    np.testing.assert_array_equal(gpu.stylize(frames), np.stack([gpu.stylize(f) for f in frames]))
