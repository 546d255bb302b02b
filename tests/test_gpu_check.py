"""benchmarks/gpu_check.py: one line and exit 0 without a GPU; every step runs on faked providers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import onnxruntime as ort
import pytest

from tests.conftest import FakeGpu

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture()
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(gpu_check: ModuleType, monkeypatch, capsys,
                                                          tmp_path: Path) -> None:
    monkeypatch.setattr(gpu_check, "gpu_present", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "no NVIDIA GPU" in out
    assert not (tmp_path / "report.json").exists()


@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="has an NVIDIA driver")
def test_the_script_itself_on_this_machine(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and run.stdout.count("\n") == 1 and "no NVIDIA GPU" in run.stdout


def test_a_cpu_onnxruntime_is_told_what_to_install(gpu_check: ModuleType, monkeypatch, capsys,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(gpu_check, "gpu_present", lambda: True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    # a zero budget: were the preflight to let it through, every step would be skipped, not run on this CPU
    assert gpu_check.main(["--minutes", "0", "--out", str(tmp_path / "report.json")]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "pip install --no-index --find-links" in out and "onnxruntime-gpu" in out


def test_without_pyav_the_video_step_is_skipped(gpu_check: ModuleType, monkeypatch) -> None:
    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else find(name, *a))
    assert "PyAV is not installed" in gpu_check.video("starry_night")["skipped"]


def test_every_step_runs_on_faked_gpu_providers(gpu_check: ModuleType, tiny_models: list[str], monkeypatch,
                                                tmp_path: Path, capsys) -> None:
    FakeGpu(monkeypatch, cpu_ops=("Transpose",))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from rtstyle.engine import _PlainRunner

    monkeypatch.setattr("rtstyle.engine._BoundRunner", lambda session, device: _PlainRunner(session))  # host memory
    monkeypatch.setattr(gpu_check, "gpu_present", lambda: True)
    monkeypatch.setattr(gpu_check, "SIZES", [(36, 64), (48, 80)])
    monkeypatch.setattr(gpu_check, "BATCHES", (1, 2))
    monkeypatch.setattr(gpu_check, "VIDEO", (48, 64, 0.2))
    monkeypatch.setattr(gpu_check, "_fps", lambda made, batch, repeat_s: float(len(batch)))
    report_path = tmp_path / "report.json"
    assert gpu_check.main(["--out", str(report_path), "--style", tiny_models[0], "--second-style",
                           tiny_models[1]]) == 0
    report = json.loads(report_path.read_text())
    assert report["placement_full"]["cuda"]["CPUExecutionProvider"] > 0  # Transpose nodes, as faked
    assert "Transpose" in report["placement_full"]["cuda_cpu_nodes"]
    assert "not installed" in report["placement_fast"]["cuda"] or "unknown style" in report["placement_fast"]["cuda"]
    for device in ("cuda", "tensorrt"):
        assert set(report["pixels_vs_cpu"][device]) == set(tiny_models[:2])
    assert report["io_binding"]["batches"] == 50 and report["io_binding"]["earlier_results_kept"] is True
    assert report["video_1080p"]["frames"] == 6 and "stage_seconds" in report["video_1080p"]
    assert len(report["fps"]) == 2 * 2 * 2 * 2 and all("fps" in row for row in report["fps"])
    assert "verdict: pixels" in capsys.readouterr().out.splitlines()[-1]
