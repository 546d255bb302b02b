"""Live painting in the studio (rtstyle/serve/routes/live.py): ``/api/live/offer`` with an aiortc client.
The worker's live feeds are in tests/serve/test_worker.py.

The client is a second aiortc peer in the test's own event loop; the studio runs in Starlette's
test client (its own thread and loop), so the two talk over real loopback UDP as a tab would.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
aiortc = pytest.importorskip("aiortc", reason="the live studio needs aiortc")

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack  # noqa: E402
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters  # noqa: E402
from av import VideoFrame  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from rtstyle.serve import playout  # noqa: E402
from rtstyle.serve.app import create_app  # noqa: E402
from rtstyle.serve.routes import live as live_route  # noqa: E402
from rtstyle.serve.settings import ServeSettings  # noqa: E402
from rtstyle.synthetic import scene  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SIZE = (160, 96)


# --- WebRTC through the studio -----------------------------------------------------------------------


class Camera(VideoStreamTrack):
    """A 30 fps camera showing one still frame; after ``frames`` frames it goes silent (a vanished tab)."""

    def __init__(self, image: np.ndarray, frames: int | None = None):
        super().__init__()
        self.image, self.frames, self.sent = image, frames, 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        if self.frames is not None and self.sent >= self.frames:
            await asyncio.Event().wait()
        self.sent += 1
        frame = VideoFrame.from_ndarray(self.image, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tab:
    """A browser tab as the page behaves: camera out, painted video in, commands on a data channel."""

    def __init__(self, client: TestClient, camera: Camera):
        self.client = client
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("commands")
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self.pc.addTrack(camera)
        self.frames: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.pc.on("track", lambda track: asyncio.ensure_future(self._pump(track)))

    async def _pump(self, track: object) -> None:
        with pytest.raises(aiortc.mediastreams.MediaStreamError):
            while True:
                frame = await track.recv()  # type: ignore[attr-defined]
                self.frames.put_nowait(frame.to_ndarray(format="bgr24"))

    async def connect(self, style: str | None = None) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer", "style": style}
        response = await asyncio.to_thread(self.client.post, "/api/live/offer", json=offer)
        assert response.status_code == 200, response.text
        await self.pc.setRemoteDescription(RTCSessionDescription(**response.json()))

    async def frame(self, after: float = 0.0) -> np.ndarray:
        """The first painted frame received ``after`` seconds from now."""
        deadline = time.monotonic() + after
        while True:
            image = await asyncio.wait_for(self.frames.get(), 10)
            if time.monotonic() >= deadline:
                return image


@pytest.fixture()
def client(tmp_path: Path, tiny_models: list[str]) -> Iterator[TestClient]:
    settings = ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def sessions(client: TestClient) -> int:
    return int(client.get("/healthz").json()["live_sessions"])


def nearest(image: np.ndarray, candidates: dict[str, np.ndarray]) -> str:
    return min(candidates, key=lambda k: float(np.abs(candidates[k].astype(np.int16) - image).mean()))


def test_the_camera_comes_back_painted_and_a_key_switches_the_style(client: TestClient) -> None:
    camera = scene(5, *SIZE)
    engine = client.app.state.studio.engine  # type: ignore[attr-defined]
    want = {name: engine.stylize(camera, style=name) for name in engine.style_names}
    want["camera"] = camera

    async def run() -> tuple[str, str, int]:
        tab = Tab(client, Camera(camera))
        await tab.connect(style="tiny_a")
        first = nearest(await tab.frame(), want)
        await asyncio.wait_for(tab.opened.wait(), 5)
        tab.channel.send('{"type": "key", "key": "2"}')
        after = nearest(await tab.frame(after=0.5), want)
        live = sessions(client)
        await tab.pc.close()
        return first, after, live

    first, after, live = asyncio.run(run())
    assert (first, after, live) == ("tiny_a", "tiny_b", 1)
    deadline = time.monotonic() + 5
    while sessions(client):
        assert time.monotonic() < deadline, "the closed tab's session is still open"
        time.sleep(0.05)


def test_twenty_tabs_come_and_go_without_leaking(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_route, "STALL_SECONDS", 1.0)
    studio = client.app.state.studio  # type: ignore[attr-defined]
    camera = scene(0, *SIZE)

    async def cycle(vanish: bool) -> None:
        tab = Tab(client, Camera(camera, frames=5 if vanish else None))
        await tab.connect()
        await tab.frame()
        if not vanish:  # a vanished tab never says goodbye: the server notices its camera went silent
            await tab.pc.close()
        deadline = time.monotonic() + 5
        while studio.live_sessions:
            assert time.monotonic() < deadline, "a session outlived its tab"
            await asyncio.sleep(0.05)
        await tab.pc.close()

    async def run() -> tuple[list[str], list[str]]:
        await cycle(vanish=False)
        baseline = own_threads()
        for n in range(19):
            await cycle(vanish=n == 9)
        deadline = time.monotonic() + 2
        while len(own_threads()) > len(baseline) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return baseline, own_threads()

    baseline, after = asyncio.run(run())
    assert (len(studio.live_sessions), studio.worker.feeds, sessions(client)) == (0, 0, 0)
    assert len(after) <= len(baseline), after


def own_threads() -> list[str]:
    """Threads but the pools' (executors keep theirs, up to a fixed number, for later work)."""
    pools = ("asyncio_", "ThreadPoolExecutor", "AnyIO worker thread")
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith(pools))


def test_the_painted_stream_asks_the_browser_to_show_each_frame_at_once(client: TestClient) -> None:
    """Chrome's offers list the playout-delay header extension (so does this aiortc tab's, with the
    studio loaded); the answer takes it, and every video packet sent says: minimum and maximum delay 0,
    which turns off the receiver's smoothing delay (40-55 ms of the live page's latency without it)."""
    async def answer_to_a_tab() -> str:
        tab = Tab(client, Camera(scene(5, *SIZE)))
        await tab.connect()
        await tab.frame()
        await tab.pc.close()
        return tab.pc.remoteDescription.sdp

    extmap = re.search(rf"a=extmap:(\d+) {re.escape(playout.URI)}", asyncio.run(answer_to_a_tab()))
    assert extmap is not None, "the answer does not take the playout-delay extension"
    negotiated = aiortc.rtp.HeaderExtensionsMap()
    negotiated.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=int(extmap[1]), uri=playout.URI)]))
    written = aiortc.rtp.unpack_header_extensions(*negotiated.set(aiortc.rtp.HeaderExtensions(mid="0")))
    assert written == [(1, b"0"), (int(extmap[1]), bytes(3))]


def test_an_answer_needs_a_camera_track(client: TestClient) -> None:
    async def offer_without_video() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("commands")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    response = client.post("/api/live/offer", json={"sdp": asyncio.run(offer_without_video()), "type": "offer"})
    assert response.status_code == 400 and "camera" in response.json()["error"]
    assert sessions(client) == 0
