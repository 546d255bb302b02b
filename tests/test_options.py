"""Command-line options the live commands share (rtstyle/options.py)."""

from __future__ import annotations

import argparse

import pytest

from rtstyle import options


@pytest.mark.parametrize(("text", "size"), [("640x480", (640, 480)), ("1280X720", (1280, 720))])
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert options.parse_size(text) == size


@pytest.mark.parametrize("text", ["640", "640x", "x480", "8x8", "640*480"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="WxH"):
        options.parse_size(text)
