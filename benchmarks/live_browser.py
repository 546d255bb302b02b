"""Live studio in Chromium: displayed fps and latency over a minute, one tab and two (a benchmark, not a test).

Starts ``rtstyle serve`` in-process on the installed styles (the fast networks on a CPU) and
headless Chromium with a fake 640x360 camera playing the synthetic scene; each tab presses
"Start camera". Every second it reads what the page measures on its painted ``<video>``: displayed
fps (``requestVideoFrameCallback``) and latency (data-channel round trip + the frame's time on the
server + the browser's receive-to-display time), and prints a Markdown table:

    python benchmarks/live_browser.py --seconds 60 --size 640x360 [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtstyle.options import parse_size  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from tests.serve.test_live_browser import CHROMEDRIVER, CHROMIUM, health, serving, write_y4m  # noqa: E402

READ = """const v = document.querySelector('[data-testid=live-output]');
return [Number(v.dataset.fps || 0), Number(v.dataset.latencyMs || 0), Number(v.dataset.inferMs || 0),
        (v.dataset.latencyParts || '0/0/0').split('/').map(Number),
        document.getElementById('live-error').textContent, Number(v.dataset.sendFps || 0)];"""


def moving_camera(path: Path, size: tuple[int, int], seconds: int = 4) -> Path:
    frames = [scene(i, *size) for i in range(30 * seconds)]
    write_y4m(path, frames[0], frames=0)
    import cv2

    with path.open("ab") as out:
        for image in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


# s, fps, latency ms, inference ms, latency's parts, the camera's fps cap (live.js capFrameRate)
Sample = tuple[float, float, float, float, list[float], float]


def run(tabs: int, seconds: int, camera: Path, url: str) -> list[list[Sample]]:
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1280,900", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}",
                 "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        handles = []
        for n in range(tabs):
            if n:
                driver.switch_to.new_window("window")  # a background tab is throttled
            driver.get(url + "/#live")
            time.sleep(1.5)
            driver.find_element(By.CSS_SELECTOR, "[data-testid=live-start]").click()
            handles.append(driver.current_window_handle)
        samples: list[list[Sample]] = [[] for _ in handles]
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            time.sleep(1.0)
            for i, handle in enumerate(handles):
                driver.switch_to.window(handle)
                fps, latency, infer, parts, error, sent = driver.execute_script(READ)
                if error:
                    raise SystemExit(f"tab {i + 1}: {error}")
                samples[i].append((time.monotonic() - began, fps, latency, infer, parts, sent))
        print(f"live sessions on the server: {health(url)['live_sessions']}", file=sys.stderr)
        return samples
    finally:
        driver.quit()


def _latency(samples: list[Sample]) -> str:
    """Median latency of ``samples`` and, in brackets, the medians of its parts: data-channel round
    trip + the frame's time on the server + the browser's receive-to-display time."""
    parts = "+".join(f"{statistics.median(s[4][k] for s in samples):.0f}" for k in range(3))
    return f"{statistics.median(s[2] for s in samples):.0f} ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", type=parse_size, default=(640, 360))
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=0, help="the studio's inference threads (0: all cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        camera = moving_camera(Path(tmp) / "camera.y4m", args.size)
        print("| tabs | displayed fps (mean per tab, 5 s → end) | latency ms, 5–10 s | latency ms, last 5 s "
              "| server inference ms, 5–10 s → last 5 s | camera fps sent at the end |")
        print("|---|---|---|---|---|---|")
        for tabs in args.tabs:
            with serving(Path(tmp) / f"data{tabs}", threads=args.threads) as url:
                samples = run(tabs, args.seconds, camera, url)
            fps = " / ".join(f"{statistics.mean(s[1] for s in tab if s[0] >= 5):.1f}" for tab in samples)
            early = " / ".join(_latency([s for s in tab if 5 <= s[0] < 10]) for tab in samples)
            late = " / ".join(_latency(tab[-5:]) for tab in samples)
            infer = " / ".join(f"{statistics.median(s[3] for s in tab if 5 <= s[0] < 10):.0f} → "
                               f"{statistics.median(s[3] for s in tab[-5:]):.0f}" for tab in samples)
            sent = " / ".join(f"{tab[-1][5]:.0f}" for tab in samples)
            print(f"| {tabs} | {fps} | {early} | {late} | {infer} | ≤ {sent} |", flush=True)


if __name__ == "__main__":
    main()
