"""The studio page in a real browser: headless Chromium, driven by Selenium, against a real server.

The server runs in a thread on an ephemeral 127.0.0.1 port with the tiny test styles and a temporary
data folder. Skipped where Chromium, chromedriver, Selenium, torch (for the tiny styles) or the serve
extras are missing.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rtstyle.synthetic import scene, write_clip
from tests.conftest import TINY_STYLES

for _module in ("fastapi", "uvicorn", "PIL", "selenium"):
    pytest.importorskip(_module, reason=f"the studio's browser tests need {_module}")
if not (importlib.util.find_spec("python_multipart") or importlib.util.find_spec("multipart")):
    pytest.skip("the studio's browser tests need python-multipart", allow_module_level=True)

from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.serve.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402

WAIT_SECONDS = 30  # what a user would wait for a 10-frame job on a busy 2-core machine, and then some

# Reads an <img>'s bytes inside the page (its src is a blob: URL only the page can open).
FETCH_BASE64 = """
const done = arguments[arguments.length - 1];
fetch(arguments[0]).then((r) => r.arrayBuffer()).then((buffer) => {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  done(btoa(text));
}, (err) => done("ERROR " + err));
"""


@contextlib.contextmanager
def serving(models: Path | str, data_dir: Path, token: str | None = None, **options: object) -> Iterator[str]:
    """The studio on an ephemeral 127.0.0.1 port, in a thread, serving the styles in ``models``; yields its URL."""
    import uvicorn

    from rtstyle.serve.app import create_app
    from rtstyle.serve.settings import ServeSettings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RTSTYLE_MODELS", str(models))
        settings = ServeSettings(device="cpu", data_dir=data_dir, token=token, threads=1, **options)  # type: ignore[arg-type]
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        app_server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
        thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + WAIT_SECONDS
        while not app_server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            if not app_server.started:
                pytest.fail("the studio server did not start")
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
        finally:
            app_server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tiny_model_dir, tmp_path_factory.mktemp("studio")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("the studio's browser tests need chromium and chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # named, so that Selenium Manager never looks on the internet
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.skip(f"chromium does not start: {exc.msg}")
    yield driver
    driver.quit()


def wait_for(driver: webdriver.Chrome, css: str, what: str, seconds: float = WAIT_SECONDS) -> list[WebElement]:
    """The elements matching ``css`` once there is at least one; fails naming ``what`` did not appear."""
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, css), message=f"{what} did not appear")


def image_bytes(driver: webdriver.Chrome, img: WebElement) -> bytes:
    answer = driver.execute_async_script(FETCH_BASE64, img.get_attribute("src"))
    assert not answer.startswith("ERROR"), answer
    return base64.b64decode(answer)


def test_gallery_shows_every_installed_painting(server: str, browser: webdriver.Chrome) -> None:
    browser.get(server)
    cards = wait_for(browser, "[data-testid=style-option]", "the gallery")
    assert browser.title == "rtstyle studio"
    assert sorted(c.get_attribute("data-style") for c in cards) == sorted(TINY_STYLES)
    for card in cards:
        assert card.is_displayed()
        assert f"Tiny {card.get_attribute('data-style')}" in card.text  # the painting's name, from its metadata
    assert [c.get_attribute("aria-checked") for c in cards].count("true") == 1
    cards[-1].click()
    assert cards[-1].get_attribute("aria-checked") == "true"


def test_photo_is_painted_at_its_size_and_strength_zero_gives_it_back(
        server: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    photo = scene(3, 90, 62)  # not a multiple of 4: the engine pads and crops back
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    rgb = photo[..., ::-1].astype(np.int16)
    browser.get(server)
    wait_for(browser, "[data-testid=style-option]", "the gallery")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=photo-input]").send_keys(str(tmp_path / "photo.png"))
    result = wait_for(browser, "[data-testid=result-image]", "the painted photo")[0]
    painted = np.asarray(Image.open(io.BytesIO(image_bytes(browser, result))).convert("RGB"), np.int16)
    assert painted.shape == rgb.shape
    assert np.abs(painted - rgb).mean() > 20, "the result looks like the photo itself"

    first_src = result.get_attribute("src")
    browser.execute_script("const s = arguments[0]; s.value = 0; s.dispatchEvent(new Event('input'));",
                           browser.find_element(By.CSS_SELECTOR, "[data-testid=strength]"))
    WebDriverWait(browser, WAIT_SECONDS, 0.1).until(lambda _: result.get_attribute("src") != first_src,
                                                    message="moving the strength slider did not repaint the photo")
    unpainted = np.asarray(Image.open(io.BytesIO(image_bytes(browser, result))).convert("RGB"), np.int16)
    assert np.abs(unpainted - rgb).max() <= 2, "strength 0 should give the photo back"


def run_video_job(server: str, browser: webdriver.Chrome, tmp_path: Path) -> WebElement:
    """A 10-frame clip chosen in the page, as a user would; its job row once done."""
    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, frames=10, audio=False)
    browser.get(server)
    wait_for(browser, "[data-testid=style-option]", "the gallery")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=video-input]").send_keys(str(clip))
    return wait_for(browser, "[data-testid=job-progress][data-state=done]", "a finished job")[0]


def test_video_job_runs_to_done_and_downloads_every_frame(
        server: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    done = run_video_job(server, browser, tmp_path)
    assert "10 frames" in done.text
    job_id = done.get_attribute("data-job-id")

    browser.refresh()  # the jobs are listed again after a reload
    row = wait_for(browser, f"[data-testid=job-progress][data-job-id='{job_id}']", "the job after a reload")[0]
    assert row.get_attribute("data-state") == "done"
    href = row.find_element(By.CSS_SELECTOR, "[data-testid=job-download]").get_attribute("href")
    assert href.startswith(server + "api/jobs/") and href.endswith("/result")
    with urllib.request.urlopen(href, timeout=WAIT_SECONDS) as answer:
        (tmp_path / "painted.mp4").write_bytes(answer.read())
    with av.open(str(tmp_path / "painted.mp4")) as container:
        assert container.format.name.startswith("mov,mp4")
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_job_rows_count_in_the_progress_field(server: str, browser: webdriver.Chrome, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The page reads ``progress`` ({done, total, unit, per_second}), not frames_done (which counts steps too)."""
    from rtstyle.serve.store import Job

    public = Job.public

    def progress_only(self: Job, token_query: str = "") -> dict[str, object]:
        return {k: v for k, v in public(self, token_query).items()
                if k not in ("frames_done", "frames_total", "fps", "steps_done", "steps_total")}

    monkeypatch.setattr(Job, "public", progress_only)
    done = run_video_job(server, browser, tmp_path)
    assert "10 frames, ready" in done.text
    assert done.find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow") == "100"


def test_the_features_hear_the_gallery_and_the_sliders_through_events(
        server: str, browser: webdriver.Chrome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gallery announces the painting (studio:style) and the photo panel its sliders: a video job is sent
    in both, though neither feature reads the other's controls."""
    from rtstyle.serve.jobs import JobRunner

    started: list[tuple[str | None, float | None]] = []
    start_video = JobRunner.start_video
    monkeypatch.setattr(JobRunner, "start_video", lambda self, job, source, stroke=None: (
        started.append((job.style, stroke)), start_video(self, job, source, stroke))[-1])
    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, frames=4, audio=False)
    browser.get(server)
    cards = wait_for(browser, "[data-testid=style-option]", "the gallery")
    browser.execute_script("window.announced = [];"
                           "document.addEventListener('studio:style', (e) => announced.push(e.detail.name));")
    cards[0].click()
    cards[-1].click()
    assert browser.execute_script("return announced;") == [c.get_attribute("data-style") for c in (cards[0], cards[-1])]
    browser.execute_script("const s = arguments[0]; s.value = 1; s.dispatchEvent(new Event('input'));",
                           browser.find_element(By.CSS_SELECTOR, "[data-testid=stroke-size]"))
    assert browser.find_element(By.ID, "stroke-size-value").text == "2×"
    browser.find_element(By.CSS_SELECTOR, "[data-testid=video-input]").send_keys(str(clip))
    WebDriverWait(browser, WAIT_SECONDS, 0.1).until(lambda _: started, message="no video job started")
    assert started == [(cards[-1].get_attribute("data-style"), 2.0)]
    selected = browser.find_element(By.CSS_SELECTOR, "[data-testid=style-option][aria-checked=true]")
    assert selected.get_attribute("data-style") == cards[-1].get_attribute("data-style")
    assert browser.find_element(By.CSS_SELECTOR, "#video .style-name").text == selected.find_element(
        By.TAG_NAME, "strong").text


def test_a_photo_chosen_while_the_gallery_loads_is_painted(tiny_model_dir: Path, browser: webdriver.Chrome,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a slow connection a photo can be chosen before the gallery has a style: it waits for it."""
    from rtstyle.serve.state import Painting

    describe = Painting.describe
    monkeypatch.setattr(Painting, "describe", lambda self: time.sleep(0.5) or describe(self))  # a slow /api/styles
    cv2.imwrite(str(tmp_path / "photo.png"), scene(1, 64, 48))
    with serving(tiny_model_dir, tmp_path / "studio") as url:
        browser.get(url)
        browser.find_element(By.CSS_SELECTOR, "[data-testid=photo-input]").send_keys(str(tmp_path / "photo.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=style-option]")  # chosen before the gallery
        result = wait_for(browser, "[data-testid=result-image]", "the photo chosen while the gallery loaded")[0]
        selected = browser.find_element(By.CSS_SELECTOR, "[data-testid=style-option][aria-checked=true]")
        assert result.get_attribute("alt").endswith(f"in the style of Tiny {selected.get_attribute('data-style')}")
        assert not browser.find_element(By.CSS_SELECTOR, ".card-error").text


def test_a_token_is_asked_for_once_kept_and_sent(tiny_model_dir: Path, browser: webdriver.Chrome,
                                                 tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "photo.png"), scene(1, 64, 48))
    with serving(tiny_model_dir, tmp_path / "studio", token="s3cret") as url:
        browser.get(url)
        field = browser.find_element(By.CSS_SELECTOR, "[data-testid=token-input]")
        WebDriverWait(browser, WAIT_SECONDS, 0.1).until(lambda _: field.is_displayed(), "the token form is not shown")
        field.send_keys("wrong")
        browser.find_element(By.CSS_SELECTOR, "[data-testid=token-submit]").click()
        WebDriverWait(browser, WAIT_SECONDS, 0.1).until(
            lambda d: "not accepted" in d.find_element(By.ID, "token-error").text, "a wrong token was not refused")
        field.send_keys("s3cret")
        browser.find_element(By.CSS_SELECTOR, "[data-testid=token-submit]").click()
        assert len(wait_for(browser, "[data-testid=style-option]", "the gallery behind the token")) == len(TINY_STYLES)
        assert not field.is_displayed()
        thumbnails = browser.find_elements(By.CSS_SELECTOR, "[data-testid=style-option] img")
        WebDriverWait(browser, WAIT_SECONDS, 0.1).until(  # an <img> carries the token in its URL
            lambda _: all(t.get_attribute("complete") == "true" for t in thumbnails), "the thumbnails did not load")
        assert all(int(t.get_attribute("naturalWidth")) > 0 for t in thumbnails)

        browser.refresh()  # kept for the session: not asked again
        browser.find_element(By.CSS_SELECTOR, "[data-testid=photo-input]").send_keys(str(tmp_path / "photo.png"))
        assert wait_for(browser, "[data-testid=result-image]", "the painted photo behind the token")
        assert not browser.find_element(By.CSS_SELECTOR, "[data-testid=token-input]").is_displayed()


def test_your_painting_becomes_a_live_style_in_the_gallery(tiny_model_dir: Path, browser: webdriver.Chrome,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import rtstyle.training
    from rtstyle.training.vgg import VGGFeatures

    monkeypatch.setattr(rtstyle.training, "FULL_STEPS", 1)  # the page asks for the default schedule: one step each
    monkeypatch.setattr(rtstyle.training, "FAST_STEPS", 1)
    vgg = tmp_path / "vgg16.pth"  # VGG16's layout with random weights: no download, no ../shared
    features = VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")).features
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, vgg)
    photos = []
    for i in range(52):
        photos.append(tmp_path / f"photo{i:02d}.jpg")
        cv2.imwrite(str(photos[-1]), scene(i * 9, 96, 64))
    painting = tmp_path / "Sunflowers.png"
    cv2.imwrite(str(painting), cv2.resize(np.random.default_rng(1).integers(0, 255, (6, 6, 3), dtype=np.uint8),
                                          (96, 96), interpolation=cv2.INTER_NEAREST))
    mine = tmp_path / "mine"
    import os

    with serving(f"{mine}{os.pathsep}{tiny_model_dir}", tmp_path / "studio", vgg_weights=vgg) as url:
        browser.get(url)
        wait_for(browser, "[data-testid=style-option]", "the gallery")
        start = browser.find_element(By.CSS_SELECTOR, "[data-testid=train-start]")
        assert not start.is_enabled()
        browser.find_element(By.CSS_SELECTOR, "[data-testid=train-content]").send_keys("\n".join(map(str, photos)))
        browser.find_element(By.CSS_SELECTOR, "[data-testid=painting-input]").send_keys(str(painting))
        WebDriverWait(browser, WAIT_SECONDS, 0.1).until(lambda _: start.is_enabled(), message="the button stays off")
        start.click()
        done = wait_for(browser, "[data-testid=job-progress][data-kind=train][data-state=done]", "a trained style",
                        seconds=4 * WAIT_SECONDS)[0]
        assert "in the gallery as" in done.text
        card = wait_for(browser, "[data-testid=style-option][data-style=sunflowers]", "the new style's card")[0]
        assert card.get_attribute("aria-checked") == "true"
        assert (mine / "sunflowers_fast.onnx").is_file() and (mine / "sunflowers.onnx").is_file()


def test_your_painting_repaints_the_current_photo(tiny_model_dir: Path, browser: webdriver.Chrome,
                                                  tmp_path: Path) -> None:
    """The photo panel announces its current photo; "Your painting" optimises it in the dropped painting."""
    torch = pytest.importorskip("torch")
    from rtstyle.training.vgg import VGGFeatures

    vgg = tmp_path / "vgg16.pth"  # VGG16's layout with random weights: no download, no ../shared
    features = VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")).features
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, vgg)
    cv2.imwrite(str(tmp_path / "photo.png"), scene(2, 64, 48))
    painting = tmp_path / "mine.png"
    cv2.imwrite(str(painting), cv2.resize(np.random.default_rng(2).integers(0, 255, (6, 6, 3), dtype=np.uint8),
                                          (64, 64), interpolation=cv2.INTER_NEAREST))
    with serving(tiny_model_dir, tmp_path / "studio", vgg_weights=vgg) as url:
        browser.get(url)
        wait_for(browser, "[data-testid=style-option]", "the gallery")
        for testid, value in (("painting-steps", "2"), ("painting-size", "64")):  # a test's patience
            browser.execute_script("arguments[0].add(new Option(arguments[1], arguments[1], true, true));",
                                   browser.find_element(By.CSS_SELECTOR, f"[data-testid={testid}]"), value)
        browser.find_element(By.CSS_SELECTOR, "[data-testid=photo-input]").send_keys(str(tmp_path / "photo.png"))
        wait_for(browser, "#painting-photo img[alt='photo.png']", "the current photo beside the painting")
        browser.find_element(By.CSS_SELECTOR, "[data-testid=painting-input]").send_keys(str(painting))
        done = wait_for(browser, "[data-testid=job-progress][data-kind=optimize][data-state=done]",
                        "the optimised photo", seconds=4 * WAIT_SECONDS)[0]
        assert "2 steps" in done.text
        picture = done.find_element(By.CSS_SELECTOR, "[data-testid=result-image]")
        assert Image.open(io.BytesIO(image_bytes(browser, picture))).size == (64, 48)
        assert not browser.find_element(By.CSS_SELECTOR, "[data-testid=painting-error]").text
