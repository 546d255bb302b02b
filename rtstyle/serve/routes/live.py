"""``POST /api/live/offer``: the browser's camera over WebRTC, painted by the studio's worker, sent back.

As aiortc's ``examples/server/server.py``: one offer handler, one track class (:class:`PaintedTrack`),
and the set of sessions (``studio.live_sessions``) the app closes on shutdown. Ours differs where
theirs lags: their transform track paints every frame it receives, one after the other, so when
painting is slower than the camera each frame waits for all those before it and latency grows
without bound. Here the camera track only replaces the feed's newest frame
(:class:`rtstyle.live.Feed`); the worker paints whatever is newest when its turn comes, and the
outgoing track sends whatever painting is newest when the encoder asks.

``GET /api/live/keys`` tells the page which of the desktop window's keys it has (one table,
:data:`rtstyle.live.KEY_TABLE`) and whether it sends each to the server or does it itself (snapshot, HUD).
The page's data channel carries those keys (``{"type": "key", "key": "n"}``),
gallery clicks (``{"type": "style", "name": ...}``) and pings; the server answers with the look
now shown and, twice a second, the inference time and how long frames stayed on the server. A style
name the studio does not have is ignored, with a ``{"type": "notice", "message": ...}`` and the look
that stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import replace
from fractions import Fraction

from aiortc import MediaStreamTrack, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame
from fastapi import APIRouter
from pydantic import BaseModel

from rtstyle.errors import InputError, StyleNotFoundError
from rtstyle.live import KEY_TABLE, KEYMAP, Action, Captured, Command, Feed, Look, PickStyle, View, step
from rtstyle.serve import playout
from rtstyle.serve.errors import ApiError
from rtstyle.serve.routes.deps import StudioDep
from rtstyle.serve.state import Studio
from rtstyle.strokes import check_stroke
from rtstyle.video import bgr_image, yuv_frame

log = logging.getLogger(__name__)
router = APIRouter()
playout.install()  # painted frames are shown as they arrive, not held back to smooth the pace

STALL_SECONDS = 10.0  # a camera track silent this long is a tab that went away without saying so
STATS_SECONDS = 0.5
TIME_BASE = Fraction(1, 90000)  # the RTP video clock
LOOK_COMMANDS = {Action.NEXT_STYLE, Action.PREV_STYLE, Action.TOGGLE_ORIGINAL, Action.COMPARE, Action.STRONGER,
                 Action.WEAKER, Action.BIGGER_STROKES, Action.SMALLER_STROKES, Action.KEEP_COLORS}
PAGE_COMMANDS = {Action.SNAPSHOT: "snapshot", Action.HUD: "hud"}  # the page does these itself


def _does(command: Command) -> str | None:
    """What the page does with a key: ``send`` it over the data channel, one of its own actions, or nothing."""
    if isinstance(command, PickStyle) or command in LOOK_COMMANDS:
        return "send"
    return PAGE_COMMANDS.get(command)


@router.get("/api/live/keys")
def keys() -> list[dict[str, object]]:
    """The desktop window's keys that the live panel has, from :data:`rtstyle.live.KEY_TABLE`: each entry's
    browser key names (``KeyboardEvent.key``), what the page ``does`` with them, and the help's words."""
    table = []
    for hotkey in KEY_TABLE:
        does = {_does(command) for command in hotkey.keys.values()}
        if does == {None}:
            continue
        (what,) = does
        names = [name for name, command in KEYMAP.items() if command in hotkey.keys.values()]
        table.append({"label": hotkey.label, "words": hotkey.words, "keys": names, "does": what})
    return table


class Offer(BaseModel):
    sdp: str
    type: str
    style: str | None = None


@router.post("/api/live/offer")
async def offer(body: Offer, studio: StudioDep) -> dict[str, str]:
    """The answer to the page's offer; its camera track comes back painted on the same connection."""
    if body.type != "offer":
        raise InputError(f"expected an SDP offer, not {body.type!r}")
    index = studio.engine.style_names.index(studio.painting(body.style).network.name)
    session = Session(studio, index)
    studio.live_sessions.add(session)
    try:
        await session.pc.setRemoteDescription(RTCSessionDescription(sdp=body.sdp, type=body.type))
        if session.reader is None:
            raise ApiError(400, "the offer has no camera (video) track")
        await session.pc.setLocalDescription(await session.pc.createAnswer())
    except Exception:
        await session.close()
        raise
    return {"sdp": session.pc.localDescription.sdp, "type": session.pc.localDescription.type}


async def close_all(studio: Studio) -> None:
    """Close every session (the app's shutdown)."""
    await asyncio.gather(*(session.close() for session in list(studio.live_sessions)))


class Session:
    """One tab: its peer connection, its feed in the worker, and the task that reads its camera."""

    def __init__(self, studio: Studio, style: int):
        self.studio = studio
        self.view = View(look=Look(style=style))
        loop = asyncio.get_running_loop()
        self.painted = asyncio.Event()
        self.feed = Feed(self.view.look, on_result=lambda: loop.call_soon_threadsafe(self.painted.set))
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # a local app: no STUN server to ask
        self.channel: RTCDataChannel | None = None
        self.reader: asyncio.Task[None] | None = None
        self.closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_channel)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self.reader is not None:
            return
        self.studio.worker.add_feed(self.feed)
        self.pc.addTrack(PaintedTrack(self))
        self.reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        """Camera frames into the feed (each replaces the last one not painted yet) until the track ends."""
        index = 0
        try:
            while True:
                frame = await asyncio.wait_for(track.recv(), STALL_SECONDS)
                image = bgr_image(frame)
                self.studio.worker.live(self.feed, Captured(image, index, time.monotonic()))
                index += 1
        except (MediaStreamError, TimeoutError):
            pass
        finally:
            if not self.closed:
                asyncio.ensure_future(self.close())

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.on("message", self._on_message)
        self._send(self._look())

    def _on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
            kind = data["type"]
        except (ValueError, TypeError, KeyError):
            return
        if kind == "ping":
            self._send({"type": "pong", "t": data.get("t")})
            return
        if kind == "stroke":
            self._set_stroke(data.get("size"))
            return
        command = self._command(data)
        if command is not None:
            self.view = step(self.view, command, len(self.studio.engine.style_names))
            self.feed.look = self.view.look
            self._send(self._look())

    def _set_stroke(self, size: object) -> None:
        """``{"type": "stroke", "size": 1.5}``: the stroke size (rtstyle.strokes); null: the style's own."""
        try:
            stroke = None if size is None else check_stroke(float(size))  # type: ignore[arg-type]
        except (TypeError, ValueError, InputError) as exc:
            self._send({"type": "error", "message": f"stroke size: {exc}"})
            return
        self.view = replace(self.view, look=replace(self.view.look, stroke=stroke))
        self.feed.look = self.view.look
        self._send(self._look())

    def _command(self, data: dict[str, object]) -> Command | None:
        if data["type"] == "style":
            try:
                network = self.studio.painting(str(data.get("name") or "")).network.name
            except (InputError, StyleNotFoundError) as exc:  # a stale page or a typo: say so, keep painting
                self._send({"type": "notice", "message": str(exc)})
                self._send(self._look())
                return None
            return PickStyle(self.studio.engine.style_names.index(network))
        if data["type"] == "key" and isinstance(data.get("key"), str):
            command = KEYMAP.get(str(data["key"]))
            return command if command is not None and _does(command) == "send" else None
        return None

    def _look(self) -> dict[str, object]:
        look = self.view.look
        painting = self.studio.painting(self.studio.engine.style_names[look.style])
        return {"type": "look", "style": painting.name, "index": look.style, "mode": look.mode.value,
                "strength": look.strength, "keep_colors": look.keep_colors,
                "stroke_size": self.studio.engine.stroke_size(self.studio.engine.style_names[look.style], look.stroke)}

    def _send(self, message: dict[str, object]) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(message))

    async def next_painting(self, than: int) -> tuple[int, VideoFrame, float, float]:
        """The newest painting after number ``than``: (its number, the frame, inference ms, ms since it arrived)."""
        while not self.closed:
            self.painted.clear()
            if self.feed.error is not None:
                self._send({"type": "error", "message": f"painting failed: {self.feed.error}"})
                break
            got = self.feed.results.newer(than, timeout=0)
            if got is not None:
                number, shown = got
                frame = yuv_frame(shown.image)
                return number, frame, shown.infer_ms, (time.monotonic() - shown.captured_at) * 1000
            await self.painted.wait()
        await self.close()
        raise MediaStreamError

    def stats(self, infer_ms: float, hold_ms: float) -> None:
        self._send({"type": "stats", "infer_ms": round(infer_ms, 1), "hold_ms": round(hold_ms, 1),
                    "sessions": len(self.studio.live_sessions)})

    async def close(self) -> None:
        """Release everything: the worker's feed, the camera reader, the connection. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.painted.set()
        self.studio.worker.remove_feed(self.feed)
        self.studio.live_sessions.discard(self)
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self.pc.close()


class PaintedTrack(MediaStreamTrack):
    """The painted stream: each ``recv`` returns the newest painting not sent yet (waiting for one)."""

    kind = "video"

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.sent = 0
        self.start = time.monotonic()
        self.stats_at = 0.0

    async def recv(self) -> VideoFrame:
        self.sent, frame, infer_ms, hold_ms = await self.session.next_painting(self.sent)
        now = time.monotonic()
        frame.pts, frame.time_base = int((now - self.start) / TIME_BASE), TIME_BASE
        if now >= self.stats_at:
            self.session.stats(infer_ms, hold_ms)
            self.stats_at = now + STATS_SECONDS
        return frame
