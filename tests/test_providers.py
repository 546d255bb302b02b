"""The GPU path without a GPU: onnxruntime's providers are faked and what sessions get is recorded.

:class:`tests.conftest.FakeGpu` makes onnxruntime look like a machine with working TensorRT and CUDA providers;
each session it makes runs on the real CPU provider (so frames come out) and records the
providers, their options and the keyword arguments the engine gave it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rtstyle import providers
from rtstyle.engine import Engine, EngineConfig, _PlainRunner
from rtstyle.errors import ProviderError
from rtstyle.providers import CPU, CUDA, TENSORRT, TrtProfile
from tests.conftest import FakeGpu


def _gpu_engine(styles: list[str], tmp_path: Path, **config: object) -> Engine:
    return Engine(styles, EngineConfig(cache_dir=tmp_path, io_binding=False, **config))  # type: ignore[arg-type]


def test_each_style_gets_its_own_tensorrt_engine_cache(tiny_models: list[str], monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    fake = FakeGpu(monkeypatch)
    engine = _gpu_engine(tiny_models[:2], tmp_path, device="tensorrt")
    assert engine.provider == TENSORRT
    first, second = fake.options(TENSORRT)
    assert first["trt_engine_cache_path"] == second["trt_engine_cache_path"]
    assert first["trt_engine_cache_prefix"] != second["trt_engine_cache_prefix"]  # onnxruntime issue #6455
    again = _gpu_engine(tiny_models[:1], tmp_path, device="tensorrt")  # the same style: its cache is found again
    fp32 = _gpu_engine(tiny_models[:1], tmp_path, device="tensorrt", precision="fp32")
    assert again.precision == "fp16" and fp32.precision == "fp32"
    prefixes = [o["trt_engine_cache_prefix"] for o in fake.options(TENSORRT)]
    assert prefixes[2] == prefixes[0] != prefixes[3]
    assert [o["trt_fp16_enable"] for o in fake.options(TENSORRT)] == [True, True, True, False]


@pytest.mark.parametrize(("device", "chain"), [("tensorrt", [TENSORRT, CUDA, CPU]), ("cuda", [CUDA, CPU]),
                                               ("auto", [TENSORRT, CUDA, CPU])])
def test_sessions_list_the_providers_in_order_with_onnxruntime_fallback_off(
        tiny_models: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, device: str, chain: list[str]) -> None:
    fake = FakeGpu(monkeypatch)
    engine = _gpu_engine(tiny_models[:1], tmp_path, device=device)
    assert engine.provider == chain[0]
    assert fake.sessions and all(s.providers == chain for s in fake.sessions)
    assert all(s.kwargs.get("enable_fallback") == 0 for s in fake.sessions)  # no silent CPU retry
    assert fake.sessions[-1].options.get_session_config_entry(providers.RECORD_PLACEMENT) == "1"
    assert engine.stylize(np.zeros((2, 20, 30, 3), np.uint8)).shape == (2, 20, 30, 3)


def test_gpu_libraries_are_preloaded_once_before_the_first_gpu_session(
        tiny_models: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeGpu(monkeypatch)
    _gpu_engine(tiny_models[:1], tmp_path, device="cpu")
    assert "preload" not in fake.events  # a CPU engine loads no CUDA library
    _gpu_engine(tiny_models[:2], tmp_path, device="cuda")
    _gpu_engine(tiny_models[:1], tmp_path, device="tensorrt")
    assert fake.events.count("preload") == 1
    assert fake.events.index("preload") < fake.events.index("session", 1)  # before the first GPU session


def test_nodes_a_named_device_leaves_on_the_cpu_are_said_in_one_line(
        tiny_models: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    FakeGpu(monkeypatch, cpu_ops=("Transpose", "Slice"))
    with caplog.at_level(logging.WARNING):
        engine = _gpu_engine(tiny_models[:1], tmp_path, device="cuda")
    lines = [r.getMessage() for r in caplog.records if "on the CPU" in r.getMessage()]
    assert len(lines) == 1 and "Transpose" in lines[0] and "Slice" in lines[0] and CUDA in lines[0]
    assert engine.cpu_nodes[tiny_models[0]] in lines[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        auto = _gpu_engine(tiny_models[:1], tmp_path, device="auto")
    assert not [r for r in caplog.records if "on the CPU" in r.getMessage()]  # auto was not a promise
    assert "Transpose" in auto.cpu_nodes[tiny_models[0]]
    assert _gpu_engine(tiny_models[:1], tmp_path, device="cpu").cpu_nodes == {}


def test_video_json_reports_nodes_left_on_the_cpu_and_stage_shares(
        tiny_models: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clip,
        capsys: pytest.CaptureFixture[str]) -> None:
    from rtstyle.cli import main

    FakeGpu(monkeypatch, cpu_ops=("Transpose",))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("rtstyle.engine._BoundRunner", lambda session, device: _PlainRunner(session))  # host memory
    source = clip(frames=6, width=64, height=48, audio=False)
    assert main(["video", str(source), str(tmp_path / "out.mp4"), "--style", tiny_models[0], "--device", "cuda",
                 "--encoder", "libx264", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["provider"] == CUDA and "Transpose" in report["cpu_nodes"]
    assert set(report["stage_share"]) == {"decode", "stylize", "encode", "stabilize"}
    assert report["stage_seconds"]["stabilize"] > 0  # on a GPU the stabilizer has a thread and a share of its own
    assert all(0 <= v <= 1 for v in report["stage_share"].values())


def test_onnxruntime_own_error_text_is_kept(tiny_models: list[str], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    FakeGpu(monkeypatch, fail="CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version")
    with pytest.raises(ProviderError, match="driver version is insufficient") as caught:
        _gpu_engine(tiny_models[:1], tmp_path, device="cuda")
    assert "--device cuda" in str(caught.value) and caught.value.exit_code == 5


def test_a_provider_that_does_not_load_is_reported_in_onnxruntime_words(tiny_models: list[str]) -> None:
    if CUDA not in ort.get_available_providers():
        pytest.skip("CPU-only onnxruntime: no CUDA provider library to fail loading")
    try:
        Engine(tiny_models[:1], EngineConfig(device="cuda"))
    except ProviderError as exc:  # onnxruntime-gpu without its CUDA libraries, as on this project's CPU machine
        assert "onnxruntime said: " in str(exc) and "CUDA" in str(exc).split("onnxruntime said: ")[1]
    else:
        pytest.skip("CUDA works here")


@pytest.mark.parametrize(("sizes", "batch", "opt", "biggest"), [
    ([(360, 640)], 1, (1, 360, 640), (1, 640, 640)),  # the live window
    ([(1080, 1920)], 8, (8, 1080, 1920), (8, 1920, 1920)),  # a 1080p video
    ([(1920, 1080)], 8, (8, 1920, 1080), (8, 1920, 1920)),  # portrait after rotation
    ([(719, 1279), (2160, 3840)], 4, (4, 720, 1280), (4, 3840, 3840)),  # odd sizes padded to the model's 4
])
def test_tensorrt_profile_fits_the_frames_sent(sizes: list[tuple[int, int]], batch: int, opt: tuple, biggest: tuple,
                                               ) -> None:
    profile = TrtProfile.for_frames(sizes, batch)
    assert profile.opt == opt and profile.max == biggest and profile.min == (1, 16, 16)
    options = profile.options()
    assert options["trt_profile_opt_shapes"] == f"frames:{'x'.join(map(str, opt))}x3"
    assert options["trt_profile_max_shapes"] == f"frames:{'x'.join(map(str, biggest))}x3"


def test_engine_passes_its_profile_and_a_new_profile_gets_its_own_cache(
        tiny_models: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeGpu(monkeypatch)
    live = TrtProfile.for_frames([(360, 640)], 1)
    _gpu_engine(tiny_models[:1], tmp_path, device="tensorrt", trt_profile=live)
    _gpu_engine(tiny_models[:1], tmp_path, device="tensorrt")
    live_options, video_options = fake.options(TENSORRT)
    assert live_options["trt_profile_opt_shapes"] == "frames:1x360x640x3"
    # The default: batches of 8 at the working size of stroke size 1 with its margins (rtstyle.strokes),
    # up to stroke size 0.25 either way round.
    assert video_options["trt_profile_opt_shapes"] == "frames:8x424x704x3"
    assert video_options["trt_profile_max_shapes"] == "frames:8x2688x2688x3"
    assert live_options["trt_engine_cache_prefix"] != video_options["trt_engine_cache_prefix"]


def test_the_live_window_asks_tensorrt_for_single_frames(tiny_models: list[str], monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    import argparse

    from rtstyle.live import LIVE_TRT_PROFILE
    from rtstyle.options import make_engine

    fake = FakeGpu(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("rtstyle.engine._BoundRunner", lambda session, device: _PlainRunner(session))
    args = argparse.Namespace(device="tensorrt", precision="auto", stroke_size=None, threads=0, style=tiny_models[0])
    make_engine(args, spin=False, trt_profile=LIVE_TRT_PROFILE)
    make_engine(args)
    live, video = fake.options(TENSORRT)
    assert live["trt_profile_opt_shapes"] == "frames:1x424x704x3"
    assert live["trt_profile_max_shapes"].startswith("frames:1x")
    assert video["trt_profile_opt_shapes"] == "frames:8x424x704x3"


def test_first_tensorrt_build_is_announced_once_per_style(tiny_models: list[str], monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeGpu(monkeypatch)
    with caplog.at_level(logging.WARNING):
        _gpu_engine(tiny_models[:2], tmp_path, device="tensorrt")
    building = [r.getMessage() for r in caplog.records if "building one takes minutes" in r.getMessage()]
    assert len(building) == 2 and tiny_models[0] in building[0] and tiny_models[1] in building[1]
    for options in fake.options(TENSORRT):  # what onnxruntime leaves behind once it has built them
        (tmp_path / "tensorrt" / f"{options['trt_engine_cache_prefix']}_sm90_fp16.engine").touch()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _gpu_engine(tiny_models[:2], tmp_path, device="tensorrt")
    assert not [r for r in caplog.records if "TensorRT engine" in r.getMessage()]
