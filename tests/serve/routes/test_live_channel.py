"""The live data channel: what the page sends over it, and what the server answers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("aiortc")

from fastapi.testclient import TestClient  # noqa: E402

from rtstyle.serve.app import create_app  # noqa: E402
from rtstyle.serve.routes.live import Session  # noqa: E402
from rtstyle.serve.settings import ServeSettings  # noqa: E402


class Channel:
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def _talk(studio: object, messages: list[dict[str, object]]) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        session = Session(studio, 0)  # type: ignore[arg-type]
        session.channel = Channel()  # type: ignore[assignment]
        try:
            for message in messages:
                session._on_message(json.dumps(message))
            return session.channel.sent  # type: ignore[union-attr, return-value]
        finally:
            await session.close()
    return asyncio.run(run())


def test_an_unknown_style_is_ignored_with_a_notice(tiny_models: list[str], tmp_path: Path) -> None:
    settings = ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1)
    with TestClient(create_app(settings)) as client:
        studio = client.app.state.studio  # type: ignore[attr-defined]
        sent = _talk(studio, [{"type": "style", "name": "no_such_painting"}, {"type": "style", "name": tiny_models[1]}])
    notice, stays, picked = sent
    assert notice["type"] == "notice" and "unknown style 'no_such_painting'" in str(notice["message"])
    assert stays["type"] == "look" and stays["style"] == tiny_models[0]
    assert picked["type"] == "look" and picked["style"] == tiny_models[1]


def test_the_stroke_size_is_set_over_the_channel(tiny_models: list[str], tmp_path: Path) -> None:
    settings = ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1)
    with TestClient(create_app(settings)) as client:
        studio = client.app.state.studio  # type: ignore[attr-defined]
        sent = _talk(studio, [{"type": "stroke", "size": 2}, {"type": "key", "key": "]"},
                              {"type": "stroke", "size": 99}, {"type": "stroke", "size": None}])
    assert [m.get("stroke_size") for m in sent] == [2.0, 2.5, None, 4.0]  # null: the tiny models' own (4)
    assert sent[2]["type"] == "error" and "stroke size must be between" in str(sent[2]["message"])


def test_the_page_gets_the_window_keys_it_has_and_each_does_what_the_table_says(
        tiny_models: list[str], tmp_path: Path) -> None:
    from rtstyle.live import KEYMAP, Look, View, step

    settings = ServeSettings(device="cpu", data_dir=tmp_path / "data", threads=1)
    with TestClient(create_app(settings)) as client:
        table = client.get("/api/live/keys").json()
        studio = client.app.state.studio  # type: ignore[attr-defined]
        does = {key: entry["does"] for entry in table for key in entry["keys"]}
        page = {k: v for k, v in does.items() if v != "send"}
        assert page == {"s": "snapshot", "S": "snapshot", "h": "hud", "H": "hud"}
        assert {"q", "Q", "Escape", "r", "f"}.isdisjoint(does)  # the window's own: quit, record, fullscreen
        assert {"[", "]", "k", "K", "ArrowLeft", "+", "1", "9"} <= set(does)
        assert all(entry["label"] and entry["words"] for entry in table)
        for key, what in does.items():
            sent = _talk(studio, [{"type": "key", "key": key}])
            if what != "send":
                assert sent == [], f"{key!r} is the page's to do, not the server's"
                continue
            assert len(sent) == 1, f"{key!r} was not taken"
            look, want = sent[0], step(View(look=Look(0)), KEYMAP[key], len(tiny_models)).look
            name = studio.engine.style_names[want.style]
            stroke = studio.engine.stroke_size(name, want.stroke)
            assert (look["index"], look["mode"], look["strength"], look["keep_colors"], look["stroke_size"]) == (
                want.style, want.mode.value, want.strength, want.keep_colors, stroke), key
