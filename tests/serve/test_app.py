"""The studio's API (``rtstyle serve``), called in-process through Starlette's test client.

Tiny random-weight styles stand in for the shipped ones; videos are tiny synthetic clips.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("PIL")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from rtstyle.cli import main  # noqa: E402
from rtstyle.serve.app import create_app  # noqa: E402
from rtstyle.serve.jobs import RESTART_REASON  # noqa: E402
from rtstyle.serve.settings import ServeSettings  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402
from tests.conftest import VFR_TICKS, frame_times, wait_for, write_timed_clip  # noqa: E402


@pytest.fixture()
def settings(tmp_path: Path, tiny_models: list[str]) -> ServeSettings:
    return ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1)


def studio(settings: ServeSettings, **changes: object) -> TestClient:
    from dataclasses import replace

    return TestClient(create_app(replace(settings, **changes)), raise_server_exceptions=False)


@pytest.fixture()
def client(settings: ServeSettings) -> Iterator[TestClient]:
    with studio(settings) as c:
        yield c


class SlowEngine:
    """The studio's engine, slowed down so that a job can be caught running."""

    def __init__(self, engine: object, delay: float):
        self.engine, self.delay = engine, delay
        self.provider = "CPUExecutionProvider"

    def stylize(self, frames: np.ndarray, style: str | None = None, **options: object) -> np.ndarray:
        time.sleep(self.delay)
        return self.engine.stylize(frames, style=style, **options)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:  # the rest (stroke_size, style_names...) as the engine's
        return getattr(self.engine, name)


def slow_down(client: TestClient, delay: float = 0.05) -> None:
    worker = client.app.state.studio.worker  # type: ignore[attr-defined]
    worker.engine = SlowEngine(worker.engine, delay)


def jpeg(image: np.ndarray, **pil_options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image[..., ::-1]).save(out, format="JPEG", quality=95, **pil_options)
    return out.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a PNG"
    return image


def post_video(client: TestClient, path: Path, style: str = "tiny_b", name: str | None = None) -> dict:
    r = client.post("/api/jobs", files={"video": (name or path.name, path.read_bytes(), "video/mp4")},
                    data={"style": style})
    assert r.status_code == 202, r.text
    return r.json()


# --- health, gallery ------------------------------------------------------------------------


def test_health_reports_provider_and_styles(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"ok": True, "provider": "CPUExecutionProvider", "styles": 3,
                                             "live_sessions": 0}


def test_gallery_lists_each_painting_with_a_thumbnail(client: TestClient, tiny_models: list[str]) -> None:
    styles = client.get("/api/styles").json()
    assert [s["name"] for s in styles] == tiny_models
    assert styles[0]["painting"] == "Tiny tiny_a" and styles[0]["artist"] == "random weights"
    assert styles[0]["year"] == "2026" and styles[0]["variants"] == ["full"]
    thumbs = []
    for s in styles:
        r = client.get(s["thumbnail"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        thumbs.append(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR))
    assert all(t is not None and t.shape[1] >= 160 for t in thumbs)
    assert np.abs(thumbs[0].astype(int) - thumbs[1]).mean() > 5  # each painting's own look


def test_fast_and_full_networks_are_one_card(tmp_path: Path, tiny_model_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import onnx

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "tiny_a.onnx", folder)
    fast = onnx.load(str(tiny_model_dir / "tiny_b.onnx"))
    meta = {p.key: p for p in fast.metadata_props}
    meta["style"].value = "tiny_a_fast"
    fast.metadata_props.add(key="variant", value="fast")
    fast.metadata_props.add(key="base_style", value="tiny_a")
    onnx.save(fast, str(folder / "tiny_a_fast.onnx"))
    cv2.imwrite(str(folder / "tiny_a.jpg"), np.full((30, 40, 3), (0, 0, 255), np.uint8))
    monkeypatch.setattr("rtstyle.models.model_dirs", lambda: [folder])
    with studio(ServeSettings(device="cpu", data_dir=tmp_path / "data")) as c:
        styles = c.get("/api/styles").json()
        assert [(s["name"], s["network"], s["variants"]) for s in styles] == [("tiny_a", "tiny_a_fast",
                                                                                ["fast", "full"])]
        thumb = cv2.imdecode(np.frombuffer(c.get(styles[0]["thumbnail"]).content, np.uint8), cv2.IMREAD_COLOR)
        assert thumb.shape == (30, 40, 3) and thumb[..., 2].mean() > 200  # the painting's shipped JPEG


# --- photos -----------------------------------------------------------------------------------


def test_photo_comes_back_painted_at_its_size(client: TestClient) -> None:
    photo = scene(3, 101, 67)  # odd size: padded for the network, cropped back
    r = client.post("/api/stylize", files={"image": ("p.png", cv2.imencode(".png", photo)[1].tobytes())},
                    data={"style": "tiny_c"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    painted = decode_png(r.content)
    assert painted.shape == photo.shape
    assert np.abs(painted.astype(int) - photo).mean() > 20
    other = decode_png(client.post("/api/stylize", files={"image": ("p.png", cv2.imencode(".png", photo)[1].tobytes())},
                                   data={"style": "tiny_a"}).content)
    assert np.abs(other.astype(int) - painted).mean() > 5  # the style asked for, not the default


def test_strength_and_preserve_colors(client: TestClient) -> None:
    photo = scene(5, 96, 64)
    data = cv2.imencode(".png", photo)[1].tobytes()

    def ask(**form: str) -> np.ndarray:
        return decode_png(client.post("/api/stylize", files={"image": ("p.png", data)},
                                      data={"style": "tiny_b", **form}).content).astype(int)

    full, none, half = ask(), ask(strength="0"), ask(strength="0.5")
    assert np.array_equal(none, photo)
    assert np.abs(half - (full + photo) / 2).max() <= 1
    kept = ask(preserve_colors="true")
    ycc = [cv2.cvtColor(x.astype(np.uint8), cv2.COLOR_BGR2YCrCb).astype(int) for x in (photo, full, kept)]
    assert np.abs(ycc[2][..., 1:] - ycc[0][..., 1:]).mean() < 3  # the photo's colour…
    assert np.abs(ycc[2][..., 0] - ycc[1][..., 0]).mean() < 3  # …under the painting's light and shade
    assert np.abs(ycc[1][..., 1:] - ycc[0][..., 1:]).mean() > 10  # (the plain result changes the colour)


def test_exif_orientation_is_applied(client: TestClient) -> None:
    photo = scene(1, 80, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    r = client.post("/api/stylize", files={"image": ("p.jpg", jpeg(photo, exif=exif.tobytes()))},
                    data={"strength": "0"})
    upright = decode_png(r.content)
    assert upright.shape == (80, 48, 3)
    assert np.abs(upright.astype(int) - np.rot90(photo, k=-1)).mean() < 6


@pytest.mark.parametrize(("name", "payload", "status", "words"), [
    ("corrupt JPEG", lambda: jpeg(scene(0, 64, 48))[:600], 400, "truncated or corrupt"),
    ("text file", lambda: b"hello, not a picture\n" * 20, 415, "not a picture"),
    ("PDF", lambda: b"%PDF-1.4\n" + b"0" * 100, 415, "not a picture"),
])
def test_bad_photos_are_one_line_errors(client: TestClient, name: str, payload, status: int, words: str) -> None:
    r = client.post("/api/stylize", files={"image": ("x.jpg", payload())})
    assert r.status_code == status, r.text
    assert words in r.json()["error"] and "\n" not in r.json()["error"]
    assert "Traceback" not in r.text


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is ``width``×``height`` (1-bit grey) and holds almost nothing: a bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb, small_bomb = png_header(30000, 30000), png_header(8000, 6000)  # 900 MP: over Pillow's own limit too

    def never(*args: object) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(Image.Image, "load", never)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", never)
    r = client.post("/api/stylize", files={"image": ("bomb.png", bomb)})
    assert r.status_code == 413 and "more pixels than the limit of 40 MP" in r.json()["error"]
    r = client.post("/api/stylize", files={"image": ("bomb.png", small_bomb)})
    assert r.status_code == 413 and "8000×6000 (48 MP)" in r.json()["error"]


def test_stroke_size_is_the_engines(client: TestClient) -> None:
    from rtstyle.engine import Engine, EngineConfig

    photo = scene(6, 320, 180)
    data = cv2.imencode(".png", photo)[1].tobytes()

    def ask(**form: str) -> np.ndarray:
        r = client.post("/api/stylize", files={"image": ("p.png", data)}, data={"style": "tiny_b", **form})
        assert r.status_code == 200, r.text
        return decode_png(r.content)

    engine = Engine(["tiny_b"], EngineConfig(device="cpu"))
    np.testing.assert_array_equal(ask(stroke_size="2"), engine.stylize(photo, stroke=2.0))
    np.testing.assert_array_equal(ask(), engine.stylize(photo))
    assert not np.array_equal(ask(stroke_size="2"), ask())


@pytest.mark.parametrize(("form", "status", "words"), [
    ({"style": "no_such_painting"}, 404, "unknown style"),
    ({"strength": "2"}, 400, "strength"),
    ({"strength": "lots"}, 400, "strength"),
    ({"stroke_size": "9"}, 400, "stroke size must be between 0.25 and 4"),
])
def test_bad_form_fields(client: TestClient, form: dict, status: int, words: str) -> None:
    r = client.post("/api/stylize", files={"image": ("p.png", cv2.imencode(".png", scene(0, 32, 32))[1].tobytes())},
                    data=form)
    assert r.status_code == status and words in r.json()["error"]


def test_missing_file_is_400(client: TestClient) -> None:
    r = client.post("/api/stylize", data={"style": "tiny_a"})
    assert r.status_code == 400 and "image" in r.json()["error"]


def test_uploads_over_the_limit_are_413(settings: ServeSettings) -> None:
    with studio(settings, upload_bytes=50_000) as c:
        big = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
        r = c.post("/api/stylize", files={"image": ("big.png", cv2.imencode(".png", big)[1].tobytes())})
        assert r.status_code == 413 and "limit" in r.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(20):
                yield b"x" * 10_000

        r = c.post("/api/stylize", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413
        assert c.get("/healthz").status_code == 200


# --- the token -----------------------------------------------------------------------------------


def test_token_guards_every_api_call(settings: ServeSettings) -> None:
    with studio(settings, token="s3cret") as c:
        assert c.get("/healthz").status_code == 200  # monitors need no token
        for path in ("/api/styles", "/api/jobs", "/api/info", "/api/styles/tiny_a/thumbnail"):
            r = c.get(path)
            assert r.status_code == 401 and "token" in r.json()["error"], path
        assert c.get("/api/styles", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/api/stylize", files={"image": ("p.png", b"x")}).status_code == 401
        assert c.get("/api/styles", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/styles/tiny_a/thumbnail?token=s3cret").status_code == 200  # an <img src>
        assert c.get("/api/info", headers={"Authorization": "Bearer s3cret"}).json()["auth"] is True


def test_serve_off_loopback_needs_a_token(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("RTSTYLE_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtstyle: error:") and "--token" in err and "\n" not in err


def test_serve_on_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 3
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


# --- video jobs ---------------------------------------------------------------------------------


def test_video_job_keeps_frames_rate_and_audio(client: TestClient, clip) -> None:
    source = clip("in.mp4", width=64, height=48, fps=24, frames=12, audio=True)
    job = post_video(client, source)
    assert job["state"] in ("queued", "running") and job["frames_total"] == 12 and job["kind"] == "video"
    done = wait_for(client, job["id"], ("done", "failed"))
    assert done["state"] == "done", done
    assert done["frames_done"] == 12 and done["result"] == f"/api/jobs/{job['id']}/result"
    r = client.get(done["result"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert 'filename="in-tiny_b.mp4"' in r.headers["content-disposition"]
    with av.open(io.BytesIO(r.content)) as out:
        frames = [f.to_ndarray(format="bgr24") for f in out.decode(video=0)]
        assert len(frames) == 12 and out.streams.video[0].average_rate == 24
        assert len(out.streams.audio) == 1
    with av.open(str(source)) as inp:
        first = next(inp.decode(video=0)).to_ndarray(format="bgr24")
    assert np.abs(frames[0].astype(int) - first).mean() > 20
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]


def test_video_job_keeps_every_frames_time(client: TestClient, tmp_path: Path) -> None:
    """A phone's variable-rate clip (20 frames 1/25 s apart, then 15 frames 1/12.5 s apart) comes
    back with each frame at its own time, as `rtstyle video` writes it."""
    source = write_timed_clip(tmp_path / "phone.mp4")
    done = wait_for(client, post_video(client, source)["id"], ("done", "failed"))
    assert done["state"] == "done", done
    result = tmp_path / "result.mp4"
    result.write_bytes(client.get(done["result"]).content)
    assert frame_times(result) == pytest.approx([tick / 50 for tick in VFR_TICKS], abs=1e-4)


def test_job_events_stream_progress_until_done(client: TestClient, clip) -> None:
    slow_down(client, 0.02)
    job = post_video(client, clip("in.mp4", width=64, height=48, frames=15, audio=False))
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    states = [e["state"] for e in events]
    assert states[-1] == "done" and "running" in states
    done = [e["frames_done"] for e in events]
    assert done == sorted(done) and done[-1] == 15 and len(set(done)) > 2  # real progress, not a jump
    assert any(e["fps"] > 0 and e["seconds_left"] is not None for e in events if e["state"] == "running")


def test_cancel_mid_job_leaves_only_the_record(client: TestClient, clip, settings: ServeSettings) -> None:
    slow_down(client, 0.05)
    job = post_video(client, clip("in.mp4", width=64, height=48, frames=60, audio=False))
    deadline = time.monotonic() + 10
    while client.get(f"/api/jobs/{job['id']}").json()["frames_done"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    r = client.delete(f"/api/jobs/{job['id']}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    time.sleep(0.3)  # the job's thread notices at its next batch
    after = client.get(f"/api/jobs/{job['id']}").json()
    assert after["state"] == "cancelled" and after["frames_done"] < 60
    assert not (settings.jobs_dir / job["id"]).exists()
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204  # now removed with its record
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_photos_go_ahead_of_a_running_video(client: TestClient, clip) -> None:
    slow_down(client, 0.05)
    job = post_video(client, clip("in.mp4", width=64, height=48, frames=60, audio=False))
    wait_for(client, job["id"], ("running",))
    started = time.monotonic()
    r = client.post("/api/stylize", files={"image": ("p.png", cv2.imencode(".png", scene(0, 32, 32))[1].tobytes())})
    assert r.status_code == 200
    assert time.monotonic() - started < 1.0  # not behind the job's 60 batches (3 s)
    assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
    client.delete(f"/api/jobs/{job['id']}")


@pytest.mark.parametrize(("name", "make", "status", "words"), [
    ("truncated MP4", lambda p: p.read_bytes()[: len(p.read_bytes()) // 2], 400, "truncated or corrupt"),
    ("text", lambda p: b"not a video at all\n" * 50, 415, "not a video"),
])
def test_bad_videos_are_refused_at_upload(client: TestClient, clip, settings: ServeSettings, name: str, make,
                                          status: int, words: str) -> None:
    source = clip("in.mp4", width=64, height=48, frames=10)
    r = client.post("/api/jobs", files={"video": ("in.mp4", make(source))}, data={"style": "tiny_a"})
    assert r.status_code == status and words in r.json()["error"], r.text
    assert client.get("/api/jobs").json() == []
    assert list(settings.jobs_dir.iterdir()) == []


def test_a_video_that_breaks_mid_job_fails_with_its_reason(client: TestClient, clip, settings) -> None:
    source = clip("in.mp4", width=64, height=48, frames=30, faststart=True)  # index first: opens, then ends early
    data = source.read_bytes()
    r = client.post("/api/jobs", files={"video": ("cut.mp4", data[: len(data) * 2 // 3])}, data={"style": "tiny_a"})
    assert r.status_code == 202
    job = wait_for(client, r.json()["id"], ("done", "failed"))
    assert job["state"] == "failed" and "truncated" in job["error"]
    assert not (settings.jobs_dir / job["id"]).exists()


def test_uploaded_names_are_never_paths(client: TestClient, clip, tmp_path: Path, settings: ServeSettings) -> None:
    job = post_video(client, clip("in.mp4", width=64, height=48, frames=5), name="../../../escape.mp4")
    done = wait_for(client, job["id"], ("done", "failed"))
    assert done["state"] == "done" and done["name"] == "../../../escape.mp4"
    assert not list(tmp_path.rglob("escape*")) and not list(settings.data_dir.parent.parent.rglob("escape*"))
    assert sorted(p.name for p in (settings.jobs_dir / job["id"]).iterdir()) == ["result.mp4"]
    assert 'filename="escape-tiny_b.mp4"' in client.get(done["result"]).headers["content-disposition"]


def test_long_videos_and_full_queues_are_refused(settings: ServeSettings, clip) -> None:
    source = clip("in.mp4", width=64, height=48, fps=10, frames=20)
    with studio(settings, video_seconds=1.5) as c:
        r = c.post("/api/jobs", files={"video": ("in.mp4", source.read_bytes())})
        assert r.status_code == 413 and "2 s long" in r.json()["error"]
    with studio(settings, jobs=1, queue=0) as c:
        slow_down(c, 0.05)
        first = post_video(c, source)
        r = c.post("/api/jobs", files={"video": ("in.mp4", source.read_bytes())})
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0 and "try again" in r.json()["error"]
        c.delete(f"/api/jobs/{first['id']}")


def test_restart_fails_the_running_job_and_keeps_finished_results(settings: ServeSettings, clip) -> None:
    source = clip("in.mp4", width=64, height=48, frames=40, audio=False)
    with studio(settings) as c:
        finished = post_video(c, clip("short.mp4", width=64, height=48, frames=5))
        wait_for(c, finished["id"], ("done",))
        slow_down(c, 0.05)
        running = post_video(c, source)
        wait_for(c, running["id"], ("running",))
    # A server that died without a word: its job is still "running" in the database.
    db = sqlite3.connect(settings.database)
    db.execute("UPDATE jobs SET state = 'running', error = NULL WHERE id = ?", (running["id"],))
    db.commit()
    db.close()
    (settings.jobs_dir / running["id"]).mkdir(exist_ok=True)
    with studio(settings) as c:
        job = c.get(f"/api/jobs/{running['id']}").json()
        assert job["state"] == "failed" and job["error"] == RESTART_REASON
        assert not (settings.jobs_dir / running["id"]).exists()
        again = c.get(f"/api/jobs/{finished['id']}").json()
        assert again["state"] == "done" and c.get(again["result"]).status_code == 200


def test_results_expire(client: TestClient, clip, settings: ServeSettings) -> None:
    job = post_video(client, clip("in.mp4", width=64, height=48, frames=5))
    wait_for(client, job["id"], ("done",))
    runner = client.app.state.studio.runner  # type: ignore[attr-defined]
    assert runner.cleanup() == 0
    assert runner.cleanup(now=time.time() + 25 * 3600) == 1
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (settings.jobs_dir / job["id"]).exists()


def test_data_dir_cap_deletes_oldest_results_first(settings: ServeSettings, clip) -> None:
    with studio(settings, data_cap_bytes=1) as c:
        ids = []
        for n in range(2):
            ids.append(post_video(c, clip(f"in{n}.mp4", width=64, height=48, frames=5))["id"])
            wait_for(c, ids[-1], ("done",))
        runner = c.app.state.studio.runner  # type: ignore[attr-defined]
        assert runner.cleanup() == 2
        assert c.get("/api/jobs").json() == []


# --- your painting --------------------------------------------------------------------------------


def test_optimize_runs_as_a_job(client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.conftest import SHARED

    weights = SHARED / "weights" / "vgg16-imagenet-features.pth"
    if not weights.is_file():
        pytest.skip("needs ../shared's VGG16 weights")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # found as every command finds them
    monkeypatch.setenv("RTSTYLE_VGG16_URL", weights.as_uri())
    photo, painting = scene(0, 64, 48), scene(50, 64, 48)[:, ::-1].copy()
    r = client.post("/api/optimize", files={"image": ("p.jpg", jpeg(photo)), "painting": ("art.jpg", jpeg(painting))},
                    data={"steps": "4", "size": "48"})
    assert r.status_code == 202 and r.json()["kind"] == "optimize" and r.json()["frames_total"] == 4
    job = wait_for(client, r.json()["id"], ("done", "failed"), timeout=60)
    assert job["state"] == "done", job
    result = decode_png(client.get(job["result"]).content)
    assert result.shape == (36, 48, 3)


def test_optimize_without_torch_says_which_extra(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rtstyle.serve.routes.jobs.torch_missing",
                        lambda: "your painting needs PyTorch on the server: pip install 'rtstyle[train]'")
    r = client.post("/api/optimize", files={"image": ("p.jpg", b"x"), "painting": ("a.jpg", b"y")})
    assert r.status_code == 503 and "rtstyle[train]" in r.json()["error"]
