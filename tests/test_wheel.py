"""An installed wheel does all a clone does: built, installed (not editable) into a fresh virtual
environment with torch, and run from outside the repository.

Slow (a few minutes: most of it installing torch and the runtime's dependencies) but part of the
default run, as CI runs it. It needs pip to reach its package index; without one it is skipped.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import cv2
import pytest

torch = pytest.importorskip("torch")

from rtstyle.synthetic import scene, write_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
# The runtime's GPU build of onnxruntime is a 300 MB download and this check runs on the CPU: the CPU
# build provides the same `onnxruntime` module.
CPU_INSTEAD = {"onnxruntime-gpu": "onnxruntime"}
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", ".mypy_cache", "runs")


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _build_isolation() -> list[str]:
    """Build with this environment's setuptools where it is new enough (no index needed), else as pip does."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if major >= 69 else []


def _runtime_requirements(wheel: Path) -> list[str]:
    """The names of the wheel's own dependencies on this platform (no extras), CPU builds where they differ."""
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    names = []
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            names.append(re.match(r"[A-Za-z0-9_.-]+", line.removeprefix("Requires-Dist:").strip())[0])  # type: ignore[index]
    return sorted({CPU_INSTEAD.get(n, n) for n in names})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(the venv's bin folder, an environment that runs from it, a work folder outside the repository)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # built from a copy: the build leaves build/ and *.egg-info behind
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "RTSTYLE"))}
    env.update(HOME=str(work / "home"), XDG_DATA_HOME=str(work / "home" / "data"), TORCH_HOME=str(work / "torch"))
    _run([sys.executable, "-m", "pip", "wheel", *_build_isolation(), "--no-deps", "-q", "-w", work / "dist", source],
         work, env)
    [wheel] = (work / "dist").glob("rtstyle-*.whl")
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
    pip = [bin_dir / "python", "-m", "pip", "install", "-q"]
    try:
        _run([*pip, "torch==2.13.0", *_runtime_requirements(wheel)], work, env, timeout=900)
    except AssertionError as exc:
        if re.search(r"No matching distribution|Could not find a version|Failed to establish", str(exc)):
            pytest.skip(f"pip cannot reach its index here: {str(exc).splitlines()[-1]}")
        raise
    _run([*pip, "--no-deps", wheel], work, env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return bin_dir, env, work


def test_no_top_level_export_is_installed(installed: tuple[Path, dict[str, str], Path]) -> None:
    bin_dir, env, work = installed
    purelib = _run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   work, env).strip()
    assert Path(purelib).is_relative_to(work / "venv") and not (Path(purelib) / "export").exists()
    assert (Path(purelib) / "rtstyle" / "training" / "__init__.py").is_file()
    where = _run([bin_dir / "python", "-c", "import importlib.util as u, rtstyle; print(u.find_spec('export'), "
                  "rtstyle.__file__)"], work, env)
    assert where.startswith("None ") and str(work / "venv") in where
    assert sysconfig.get_paths()["purelib"] not in where  # not the tests' own environment


def test_the_installed_commands_run_outside_the_repository(installed: tuple[Path, dict[str, str], Path],
                                                           tmp_path: Path) -> None:
    bin_dir, env, _ = installed
    rtstyle = bin_dir / "rtstyle"
    env = {**env, "RTSTYLE_VGG16_URL": _random_vgg16(tmp_path).as_uri()}
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        cv2.imwrite(str(photos / f"p{i}.jpg"), scene(i * 30, 96, 72))
    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), cv2.resize(scene(200, 16, 12)[:, ::-1], (128, 96), interpolation=cv2.INTER_NEAREST))

    listed = _run([rtstyle, "styles"], tmp_path, env)
    assert re.search(r"^starry_night_fast +fast ", listed, re.M), listed
    _run([rtstyle, "image", photos / "p0.jpg", tmp_path / "painted.png", "--style", "udnie_fast", "--device", "cpu",
          "--quiet"], tmp_path, env)
    assert cv2.imread(str(tmp_path / "painted.png")).shape == (72, 96, 3)
    clip = write_clip(tmp_path / "in.mp4", width=64, height=48, frames=6)
    _run([rtstyle, "video", clip, tmp_path / "out.mp4", "--style", "the_scream_fast", "--device", "cpu", "--quiet"],
         tmp_path, env)
    assert (tmp_path / "out.mp4").stat().st_size > 0
    _run([rtstyle, "optimize", photos / "p1.jpg", painting, tmp_path / "optimized.png", "--steps", "2", "--size", "48",
          "--quiet"], tmp_path, env)
    assert cv2.imread(str(tmp_path / "optimized.png")).shape == (36, 48, 3)
    said = _run([rtstyle, "train", painting, "--content", photos, "--name", "mine", "--steps", "2", "--fast-steps",
                 "2", "--min-content", "5", "--quiet"], tmp_path, env)
    assert "installed mine, mine_fast" in said
    assert re.search(r"^mine_fast +fast ", _run([rtstyle, "styles"], tmp_path, env), re.M)


def _random_vgg16(folder: Path) -> Path:
    """VGG16's feature layers with random weights and torchvision's keys: no download."""
    from rtstyle.training.vgg import VGGFeatures

    torch.manual_seed(0)
    features = VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")).features
    path = folder / "vgg16-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path
