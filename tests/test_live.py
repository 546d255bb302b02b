"""The live core (rtstyle/live.py) that the window and the studio share: the key table, the state
machine ``step`` over a ``View``, ``render`` with its compare mode, the newest-frame mailbox and the
stabilizer that starts fresh when the look changes. No camera, window or engine."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from rtstyle import live as core
from rtstyle.live import HOTKEYS, Action, Look, Mode, PickStyle, Steadier, View, step
from rtstyle.synthetic import scene
from tests.conftest import close_to

SIZE = (64, 48)


# --- the state machine ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "command"), [
    (ord("1"), PickStyle(0)), (ord("9"), PickStyle(8)), (ord("n"), Action.NEXT_STYLE), (ord("N"), Action.NEXT_STYLE),
    (ord("p"), Action.PREV_STYLE), (65363, Action.NEXT_STYLE), (65361, Action.PREV_STYLE),
    (2555904, Action.NEXT_STYLE), (ord(" "), Action.TOGGLE_ORIGINAL), (ord("c"), Action.COMPARE),
    (ord("+"), Action.STRONGER), (ord("="), Action.STRONGER), (ord("-"), Action.WEAKER), (ord("s"), Action.SNAPSHOT),
    (ord("r"), Action.RECORD), (ord("f"), Action.FULLSCREEN), (ord("h"), Action.HUD), (ord("q"), Action.QUIT),
    (27, Action.QUIT),
])
def test_hotkey_table(key: int, command: object) -> None:
    assert HOTKEYS[key] == command


V = View(look=Look(style=1))


@pytest.mark.parametrize(("view", "command", "after"), [
    (V, PickStyle(2), View(look=Look(style=2))),
    (V, PickStyle(3), V),  # only three styles loaded
    (V, Action.NEXT_STYLE, View(look=Look(style=2))),
    (View(look=Look(style=2)), Action.NEXT_STYLE, View(look=Look(style=0))),
    (View(look=Look(style=0)), Action.PREV_STYLE, View(look=Look(style=2))),
    (V, Action.TOGGLE_ORIGINAL, View(look=Look(style=1, mode=Mode.ORIGINAL))),
    (View(look=Look(style=1, mode=Mode.ORIGINAL)), Action.TOGGLE_ORIGINAL, V),
    (View(look=Look(style=1, mode=Mode.ORIGINAL)), Action.NEXT_STYLE, View(look=Look(style=2))),
    (V, Action.COMPARE, View(look=Look(style=1, mode=Mode.COMPARE))),
    (View(look=Look(style=1, mode=Mode.COMPARE)), PickStyle(0), View(look=Look(style=0, mode=Mode.COMPARE))),
    (V, Action.WEAKER, View(look=Look(style=1, strength=0.9))),
    (V, Action.STRONGER, V),
    (View(look=Look(style=1, strength=0.0)), Action.WEAKER, View(look=Look(style=1, strength=0.0))),
    (V, Action.HUD, View(look=Look(style=1), hud=False)),
    (V, Action.FULLSCREEN, View(look=Look(style=1), fullscreen=True)),
    (V, Action.RECORD, View(look=Look(style=1), recording=True)),
    (V, Action.SNAPSHOT, V),
    (V, Action.QUIT, View(look=Look(style=1), quit=True)),
])
def test_step(view: View, command: core.Command, after: View) -> None:
    assert step(view, command, n_styles=3) == after


def test_strength_steps_down_to_the_original_and_back() -> None:
    view = V
    for _ in range(12):
        view = step(view, Action.WEAKER, 3)
    assert view.look.strength == 0.0
    for _ in range(3):
        view = step(view, Action.STRONGER, 3)
    assert view.look.strength == 0.3


def test_render_modes() -> None:
    frame = scene(0, *SIZE)
    inverted = lambda f: 255 - f  # noqa: E731
    assert render_is(frame, Look(0, Mode.ORIGINAL), inverted, frame)
    assert render_is(frame, Look(0), inverted, 255 - frame)
    assert render_is(frame, Look(0, strength=0.0), inverted, frame)
    compare = core.render(frame, Look(0, Mode.COMPARE), inverted)
    assert compare.shape == frame.shape
    left, right = compare[12:36, :32].astype(int), compare[12:36, 32:].astype(int)
    assert np.abs(left + right - 255).mean() < 3  # the original beside its inverse


def test_k_keeps_the_camera_colours() -> None:
    frame = scene(0, *SIZE)
    view = step(View(look=Look(0)), HOTKEYS[ord("k")], 3)
    assert view.look.keep_colors and not step(view, Action.KEEP_COLORS, 3).look.keep_colors
    inverted = lambda f: 255 - f  # noqa: E731
    kept = cv2.cvtColor(core.render(frame, view.look, inverted), cv2.COLOR_BGR2YCrCb).astype(int)
    camera_ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(int)
    painted_ycc = cv2.cvtColor(255 - frame, cv2.COLOR_BGR2YCrCb).astype(int)
    assert np.abs(kept[..., 1:] - camera_ycc[..., 1:]).mean() < 3  # the camera's colour
    assert np.abs(kept[..., 0] - painted_ycc[..., 0]).mean() < 3  # the painting's light and shade


def render_is(frame: np.ndarray, look: Look, stylize: Callable[[np.ndarray], np.ndarray], want: np.ndarray) -> bool:
    return close_to(core.render(frame, look, stylize), want)


def test_stroke_keys_make_strokes_bigger_and_smaller_within_the_range() -> None:
    view = View(look=Look(0, stroke=1.0))
    bigger = step(view, HOTKEYS[ord("]")], 3)
    assert bigger.look.stroke == 1.25
    assert step(bigger, HOTKEYS[ord("[")], 3).look.stroke == 1.0
    assert step(View(look=Look(0, stroke=4.0)), HOTKEYS[ord("]")], 3).look.stroke == 4.0
    assert step(View(look=Look(0, stroke=0.25)), HOTKEYS[ord("[")], 3).look.stroke == 0.25


# --- the mailbox and the stabilizer ---------------------------------------------------------------


def test_latest_keeps_only_the_newest() -> None:
    slot: core.Latest[int] = core.Latest()
    for i in range(1, 101):
        slot.put(i)
    assert slot.newer(0, timeout=0) == (100, 100)
    assert slot.dropped == 99
    assert slot.newer(100, timeout=0.01) is None


def test_stabilizer_starts_fresh_when_the_look_changes() -> None:
    steady = Steadier()
    frame = np.full((32, 32, 3), 100, np.uint8)
    white, black = np.full_like(frame, 255), np.zeros_like(frame)
    steady(Look(style=0), frame, white)
    assert steady(Look(style=0), frame, black).mean() > 100  # same look: blended with the white frame
    np.testing.assert_array_equal(steady(Look(style=1), frame, black), black)  # new style: nothing carried over
    np.testing.assert_array_equal(steady(Look(style=1, mode=Mode.ORIGINAL), frame, frame), frame)
