"""rtstyle: real-time neural style transfer for webcams and video files.

Library use::

    from rtstyle import Engine, EngineConfig
    engine = Engine(["starry_night"], EngineConfig(device="auto"))
    stylized = engine.stylize(frames)  # uint8 BGR N×H×W×3 in, same out
"""

from __future__ import annotations

__version__ = "0.1.0"

from rtstyle.engine import Engine, EngineConfig  # noqa: E402
from rtstyle.errors import InputError, OutputError, ProviderError, RtstyleError, StyleNotFoundError  # noqa: E402
from rtstyle.models import StyleInfo, find_style, installed_styles  # noqa: E402

__all__ = ["Engine", "EngineConfig", "InputError", "OutputError", "ProviderError", "RtstyleError",
           "StyleInfo", "StyleNotFoundError", "find_style", "installed_styles", "__version__"]
