"""Installed styles: ONNX files with their metadata, found by name or path."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from rtstyle.errors import StyleNotFoundError


def model_dirs() -> list[Path]:
    """Where styles are looked for, first match wins.

    ``$RTSTYLE_MODELS`` (``os.pathsep``-separated) when set, and then nothing else; otherwise the
    user's own folder, the repository's ``models/`` (editable installs) and
    ``<prefix>/share/rtstyle/models`` (wheel installs).
    """
    dirs = [Path(p) for p in os.environ.get("RTSTYLE_MODELS", "").split(os.pathsep) if p]
    if dirs:
        return dirs
    data_home = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return [data_home / "rtstyle" / "models", Path(__file__).resolve().parent.parent / "models",
             Path(sys.prefix) / "share" / "rtstyle" / "models"]


@dataclass(frozen=True)
class StyleInfo:
    """One style model file and what its metadata says about it."""

    name: str
    path: Path
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def title(self) -> str:
        painting, artist, year = (self.metadata.get(k, "") for k in ("painting", "artist", "year"))
        return f"{painting} — {artist} ({year})" if painting else self.name

    @property
    def variant(self) -> str:
        return self.metadata.get("variant", "full")

    @property
    def base(self) -> str:
        """The painting's style name, shared by its full and fast networks."""
        return self.metadata.get("base_style") or self.name.removesuffix("_fast")

    @classmethod
    def from_file(cls, path: str | Path) -> StyleInfo:
        path = Path(path)
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError, OSError, ...: all mean "not a model"
            raise StyleNotFoundError(f"{path}: not a readable ONNX model ({exc.__class__.__name__})") from exc
        meta = {p.key: p.value for p in model.metadata_props}
        return cls(name=meta.get("style", path.stem), path=path, metadata=meta)

    def describe(self) -> dict[str, object]:
        training = self.metadata.get("training")
        return {"name": self.name, "title": self.title, "variant": self.variant, "path": str(self.path),
                "license": self.metadata.get("license", ""), "steps": self.metadata.get("steps", ""),
                "training": json.loads(training) if training else None}


def installed_styles() -> list[StyleInfo]:
    """Every ``*.onnx`` in :func:`model_dirs`, one per name, sorted by name."""
    found: dict[str, StyleInfo] = {}
    for folder in model_dirs():
        for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
            found.setdefault(path.stem, StyleInfo.from_file(path))
    return [found[k] for k in sorted(found)]


def find_style(name_or_path: str) -> StyleInfo:
    """A style by installed name, or a path to an ``.onnx`` file."""
    if name_or_path.endswith(".onnx") or os.sep in name_or_path:
        if not Path(name_or_path).is_file():
            raise StyleNotFoundError(f"style model not found: {name_or_path}")
        return StyleInfo.from_file(name_or_path)
    styles = installed_styles()
    for style in styles:
        if style.name == name_or_path or style.path.stem == name_or_path:
            return style
    names = ", ".join(s.path.stem for s in styles) or "none installed"
    raise StyleNotFoundError(f"unknown style {name_or_path!r} (installed: {names})")


def pick_variant(styles: list[StyleInfo], variant: str) -> list[StyleInfo]:
    """One network per painting: the ``variant`` one where it exists, else whatever there is."""
    chosen: dict[str, StyleInfo] = {}
    for style in styles:
        current = chosen.get(style.base)
        if current is None or (current.variant != variant and style.variant == variant):
            chosen[style.base] = style
    return list(chosen.values())


def default_style() -> StyleInfo:
    styles = installed_styles()
    if not styles:
        raise StyleNotFoundError(f"no styles installed (looked in {', '.join(map(str, model_dirs()))})")
    preferred = [s for s in styles if s.path.stem == DEFAULT_STYLE]
    return (preferred or styles)[0]


DEFAULT_STYLE = "starry_night"
