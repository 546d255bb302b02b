"""The Live panel in headless Chromium: a fake camera (a Y4M file) → WebRTC → the studio → painted video.

One server and one browser for the whole file. Skipped where Chromium, chromedriver, Selenium,
aiortc, torch (for the tiny styles) or the serve extras are missing.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtstyle.synthetic import scene

for _module in ("fastapi", "uvicorn", "selenium", "aiortc"):
    pytest.importorskip(_module, reason=f"the live browser test needs {_module}")

if not (importlib.util.find_spec("python_multipart") or importlib.util.find_spec("multipart")):
    pytest.skip("the studio needs python-multipart", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.serve.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver")
CAMERA = (320, 180)
WAIT_SECONDS = 30
GRAB = """
const video = document.querySelector(arguments[0]);
const canvas = document.createElement("canvas");
canvas.width = video.videoWidth; canvas.height = video.videoHeight;
canvas.getContext("2d").drawImage(video, 0, 0);
return canvas.toDataURL("image/png");
"""


def write_y4m(path: Path, image: np.ndarray, frames: int = 30, fps: int = 30) -> Path:
    """A still camera: ``frames`` copies of the uint8 BGR ``image`` as 4:2:0 Y4M (what Chromium's fake camera reads)."""
    h, w = image.shape[:2]
    planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


@contextlib.contextmanager
def serving(data_dir: Path, *, threads: int = 1, token: str | None = None) -> Iterator[str]:
    import uvicorn

    from rtstyle.serve.app import create_app
    from rtstyle.serve.settings import ServeSettings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(ServeSettings(device="cpu", data_dir=data_dir, threads=threads, token=token))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium whose camera is a still Y4M scene."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    camera = write_y4m(tmp_path / "camera.y4m", scene(5, *CAMERA))
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}", "--allow-loopback-in-peer-connection"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def browser(tmp_path: Path, tiny_models: list[str]) -> Iterator[tuple[webdriver.Chrome, str]]:
    with serving(tmp_path / "data") as url, chromium(tmp_path) as driver:
        driver.get(url + "/#live")
        yield driver, url


def health(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def grab(driver: webdriver.Chrome, testid: str) -> np.ndarray:
    data = driver.execute_script(GRAB, f"[data-testid={testid}]").split(",", 1)[1]
    return cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)


def frames_shown(driver: webdriver.Chrome) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, "[data-testid=live-output]").get_attribute("data-frames") or 0)


def nearest(image: np.ndarray, candidates: dict[str, np.ndarray]) -> str:
    h, w = image.shape[:2]
    distance = {name: float(np.abs(cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA).astype(np.int16) - image).mean())
                for name, c in candidates.items()}
    return min(distance, key=distance.__getitem__)


def test_live_paints_the_camera_switches_on_a_key_and_stops(browser: tuple[webdriver.Chrome, str]) -> None:
    from rtstyle.engine import Engine, EngineConfig
    from tests.conftest import TINY_STYLES

    driver, url = browser
    camera = scene(5, *CAMERA)
    engine = Engine(list(TINY_STYLES), EngineConfig(device="cpu", threads=1))
    looks = {"camera": camera, **{name: engine.stylize(camera, style=name) for name in TINY_STYLES}}
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=style-option][aria-checked=true]"))
    driver.find_element(By.CSS_SELECTOR, "[data-style=tiny_a]").click()

    driver.find_element(By.CSS_SELECTOR, "[data-testid=live-start]").click()
    wait.until(lambda d: frames_shown(d) >= 5 or d.find_element(By.ID, "live-error").text)
    assert driver.find_element(By.ID, "live-error").text == ""
    assert health(url)["live_sessions"] == 1
    assert nearest(grab(driver, "live-output"), looks) == "tiny_a"
    assert nearest(grab(driver, "live-original"), looks) == "camera"

    driver.find_element(By.TAG_NAME, "body").send_keys("2")
    output = driver.find_element(By.CSS_SELECTOR, "[data-testid=live-output]")
    wait.until(lambda d: output.get_attribute("data-style") == "tiny_b")
    shown = frames_shown(driver)
    wait.until(lambda d: frames_shown(d) >= shown + 3)
    assert nearest(grab(driver, "live-output"), looks) == "tiny_b"

    driver.find_element(By.CSS_SELECTOR, "[data-testid=live-stop]").click()
    deadline = time.monotonic() + 10
    while health(url)["live_sessions"]:
        assert time.monotonic() < deadline, "stop left the server's session open"
        time.sleep(0.1)


def test_the_keys_come_from_the_server_and_the_gallery_and_notices_reach_the_session(
        browser: tuple[webdriver.Chrome, str]) -> None:
    driver, url = browser
    wait = WebDriverWait(driver, WAIT_SECONDS)
    with urllib.request.urlopen(url + "/api/live/keys", timeout=5) as response:
        table = json.loads(response.read())
    note = driver.find_element(By.ID, "live-keys")
    wait.until(lambda d: note.is_displayed())
    assert all(entry["words"] in note.text for entry in table), note.text
    assert {"[", "]", "k", "s", "h"} <= {kbd.text for kbd in note.find_elements(By.TAG_NAME, "kbd")}
    assert "quit" not in note.text  # the window's, not the page's

    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=style-option][aria-checked=true]"))
    driver.find_element(By.CSS_SELECTOR, "[data-style=tiny_a]").click()
    driver.find_element(By.CSS_SELECTOR, "[data-testid=live-start]").click()
    wait.until(lambda d: frames_shown(d) >= 3 or d.find_element(By.ID, "live-error").text)
    output = driver.find_element(By.CSS_SELECTOR, "[data-testid=live-output]")
    assert output.get_attribute("data-style") == "tiny_a"
    look = driver.find_element(By.ID, "live-look")
    driver.find_element(By.TAG_NAME, "body").send_keys("]")  # a key the table gained after the page's copy
    wait.until(lambda d: "strokes" in look.text, message="] did not change the stroke size")

    driver.find_element(By.CSS_SELECTOR, "[data-style=tiny_b]").click()  # the gallery's event, not its DOM
    wait.until(lambda d: output.get_attribute("data-style") == "tiny_b", message="a gallery click did not switch")
    # A page whose gallery is older than the server's: the style it announces is not there any more.
    driver.execute_script("""document.dispatchEvent(new CustomEvent("studio:style",
        { detail: { name: "no_such_painting", painting: "Gone", chosen: true } }));""")
    notice = driver.find_element(By.CSS_SELECTOR, "[data-testid=live-notice]")
    wait.until(lambda d: "no_such_painting" in notice.text, message="the server's notice was not shown")
    assert driver.find_element(By.ID, "live-error").text == ""
    assert output.get_attribute("data-style") == "tiny_b"
    assert driver.find_element(By.ID, "live-panel").get_attribute("data-state") == "live"


def test_the_offer_asks_for_the_token_as_every_call_does(tmp_path: Path, tiny_models: list[str]) -> None:
    with serving(tmp_path / "data", token="s3cret") as url, chromium(tmp_path) as driver:
        wait = WebDriverWait(driver, WAIT_SECONDS)
        driver.get(url + "/#live")
        field = driver.find_element(By.CSS_SELECTOR, "[data-testid=token-input]")
        wait.until(lambda d: field.is_displayed(), message="the token form is not shown")
        field.send_keys("s3cret")
        driver.find_element(By.CSS_SELECTOR, "[data-testid=token-submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=style-option][aria-checked=true]"))

        driver.execute_script("sessionStorage.setItem('rtstyle.token', 'stale');")  # e.g. the server restarted
        driver.find_element(By.CSS_SELECTOR, "[data-testid=live-start]").click()
        wait.until(lambda d: field.is_displayed() or d.find_element(By.ID, "live-error").text)
        assert driver.find_element(By.ID, "live-error").text == ""
        assert "not accepted" in driver.find_element(By.ID, "token-error").text
        field.send_keys("s3cret")
        driver.find_element(By.CSS_SELECTOR, "[data-testid=token-submit]").click()
        wait.until(lambda d: frames_shown(d) >= 3 or d.find_element(By.ID, "live-error").text)
        assert driver.find_element(By.ID, "live-error").text == ""
        assert health(url)["live_sessions"] == 1
