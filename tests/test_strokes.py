"""Stroke size (rtstyle.strokes): one look at every frame size, with a shipped fast network."""

from __future__ import annotations

import ctypes
import resource

import cv2
import numpy as np
import pytest

from rtstyle.engine import Engine, EngineConfig
from rtstyle.errors import InputError
from rtstyle.models import find_style
from rtstyle.strokes import REFERENCE_SIDE, add_enlarged, enlarge, shrink, working_size
from rtstyle.synthetic import scene

SHIPPED = "starry_night_fast"


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine([find_style(SHIPPED), find_style("woman_with_hat_fast")], EngineConfig(device="cpu"))


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


@pytest.mark.parametrize(("h", "w"), [(360, 640), (1080, 1920), (2160, 3840), (1920, 1080), (240, 320), (50, 700)])
@pytest.mark.parametrize("stroke", [0.5, 1.0, 2.0])
def test_the_working_size_has_the_strokes_area_and_the_frames_shape(h: int, w: int, stroke: float) -> None:
    size = working_size(h, w, stroke)
    assert _area(size) == pytest.approx((REFERENCE_SIDE / stroke) ** 2, rel=0.03)
    assert size[1] / size[0] == pytest.approx(w / h, rel=0.03)


def test_stroke_sizes_outside_the_range_are_refused() -> None:
    for bad in (0.1, 5.0):
        with pytest.raises(InputError, match="stroke size must be between"):
            working_size(360, 640, bad)
    with pytest.raises(InputError, match="stroke size"):
        EngineConfig(stroke=0)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def test_a_picture_painted_at_twice_its_size_and_shrunk_matches_it_painted_at_its_size(shipped: Engine) -> None:
    picture = scene(3, 1280, 720)
    small = cv2.resize(picture, (640, 360), interpolation=cv2.INTER_AREA)
    at_its_size = shipped.stylize(small, SHIPPED).astype(np.float32)
    shrunk = cv2.resize(shipped.stylize(picture, SHIPPED), (640, 360), interpolation=cv2.INTER_AREA)
    # Strokes as large relative to the picture, in the same places: beyond a light blur (the bilinear
    # enlargement softens the finest pixels) the two agree within about a level. Painted at its own size,
    # as the engine did before strokes had a size, the big one differed by 26 levels (17 blurred).
    def blurred(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0)

    assert np.abs(blurred(shrunk) - blurred(at_its_size)).mean() < 2.5
    assert np.abs(shrunk - at_its_size).mean() < 8


def _stroke_frequency(painted: np.ndarray, picture: np.ndarray) -> float:
    """The power-weighted mean spatial frequency (cycles per pixel) of what painting added to the picture."""
    added = _grey(painted) - _grey(picture)
    power = np.abs(np.fft.rfft2(added - added.mean())) ** 2
    fy = np.fft.fftfreq(added.shape[0])[:, None]
    fx = np.fft.rfftfreq(added.shape[1])[None, :]
    return float((power * np.hypot(fy, fx)).sum() / power.sum())


def test_a_larger_stroke_size_paints_larger_strokes(shipped: Engine) -> None:
    picture = scene(5, 1280, 720)
    fine, bold = (_stroke_frequency(shipped.stylize(picture, SHIPPED, stroke=s), picture) for s in (1.0, 2.0))
    assert bold < 0.75 * fine


def test_the_full_size_result_keeps_the_frames_own_edges(shipped: Engine) -> None:
    picture = scene(7, 1920, 1080)
    for row in range(12):  # 2-px text: too thin for the 640x360 working size, legible at full size
        cv2.putText(picture, "One look at every size 0123456789", (40, 80 + 80 * row), cv2.FONT_HERSHEY_SIMPLEX,
                    1.2, (20, 20, 20), 2, cv2.LINE_AA)
    painted = shipped.stylize(picture, SHIPPED)
    work = shrink(picture[None], working_size(1080, 1920, 1.0))
    soft = cv2.resize(shipped.stylize(work[0], SHIPPED), (1920, 1080), interpolation=cv2.INTER_LINEAR)

    def fine(image: np.ndarray) -> np.ndarray:  # the band above what 640x360 can hold
        grey = _grey(image)
        return grey - cv2.GaussianBlur(grey, (0, 0), 1.0)

    detail = fine(picture)
    agreement = [float(np.corrcoef(fine(x).ravel(), detail.ravel())[0, 1]) for x in (painted, soft)]
    assert agreement[0] > 0.6 and agreement[1] < 0.2


def test_enlarge_adds_only_the_detail_the_working_size_lost() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 90, 160, 3), dtype=np.uint8)
    work = shrink(frames, (45, 80))
    np.testing.assert_array_equal(enlarge(work, work, frames), frames)  # nothing painted: the frames come back
    painted = rng.integers(0, 256, work.shape, dtype=np.uint8)
    assert enlarge(painted, work, frames).shape == frames.shape
    assert enlarge(shrink(frames, (180, 320)), shrink(frames, (180, 320)), frames).shape == frames.shape


@pytest.mark.parametrize(("small", "large"), [((360, 640), (1080, 1920)), ((360, 640), (2160, 3840)),
                                              ((270, 480), (1080, 1920)), ((180, 320), (90, 160)),
                                              ((361, 640), (1000, 1777)), ((7, 5), (300, 200))])
def test_the_enlargement_in_bands_is_the_enlargement_in_one_piece(small: tuple[int, int],
                                                                  large: tuple[int, int]) -> None:
    """Bands of rows keep the cache warm; each must read the residual rows one whole resize reads."""
    rng = np.random.default_rng(1)
    residual = rng.normal(0, 60, (*small, 3)).astype(np.float32)
    picture = rng.integers(0, 256, (*large, 3), dtype=np.uint8)
    whole = cv2.add(cv2.resize(residual, large[::-1], interpolation=cv2.INTER_LINEAR), picture, dtype=cv2.CV_8U)
    out = np.empty_like(picture)
    add_enlarged(residual, picture, out, rows=40)
    np.testing.assert_array_equal(out, whole)


def _outer_and_inner(painted: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    cut = {"left": (np.s_[:, :4], np.s_[:, 8:24]), "right": (np.s_[:, -4:], np.s_[:, -24:-8]),
           "top": (np.s_[:4], np.s_[8:24]), "bottom": (np.s_[-4:], np.s_[-24:-8])}[side]
    return painted[cut[0]].astype(np.float32), painted[cut[1]].astype(np.float32)


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_no_band_along_the_borders(shipped: Engine, side: str) -> None:
    # Woman with a Hat's fast network painted a pink band along the right edge: the outer columns
    # of a flat grey picture's painting stood apart from the columns just inside by ~40 levels.
    flat = np.full((360, 640, 3), 128, np.uint8) + np.random.default_rng(1).integers(0, 3, (360, 640, 3), np.uint8)
    outer, inner = _outer_and_inner(shipped.stylize(flat, "woman_with_hat_fast"), side)
    assert np.abs(outer.mean(axis=(0, 1)) - inner.mean(axis=(0, 1))).max() < 12


def _rss_mib() -> float:
    """Resident memory after the C heap gives its free pages back (what a long-running server keeps)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_memory_stays_bounded_whatever_the_frame_sizes(shipped: Engine) -> None:
    # Painted at their own sizes, onnxruntime's arena kept the largest working set it had seen: after a
    # 4K frame, a larger one later grew the process by another 110 MB. At the working size it stays put.
    rng = np.random.default_rng(2)
    shipped.stylize(scene(0, 3840, 2160), SHIPPED)
    after_the_first_big_one = _rss_mib()
    for _ in range(12):
        h, w = (int(x) for x in rng.integers(200, 4000, 2))
        shipped.stylize(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), SHIPPED)
    assert _rss_mib() - after_the_first_big_one < 32
