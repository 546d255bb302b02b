"""Installed styles: ONNX files with their metadata, found by name or path."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from rtstyle.errors import ModelError, StyleNotFoundError

log = logging.getLogger(__name__)

INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"


def model_dirs() -> list[Path]:
    """Where styles are looked for, first match wins.

    ``$RTSTYLE_MODELS`` (``os.pathsep``-separated) when set, and then nothing else; otherwise the
    user's own folder, the repository's ``models/`` (editable installs) and
    ``<prefix>/share/rtstyle/models`` (wheel installs).
    """
    dirs = [Path(p) for p in os.environ.get("RTSTYLE_MODELS", "").split(os.pathsep) if p]
    if dirs:
        return dirs
    return [user_data_dir() / "models", Path(__file__).resolve().parent.parent / "models",
            Path(sys.prefix) / "share" / "rtstyle" / "models"]


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/rtstyle`` (``~/.local/share/rtstyle``): the user's styles, runs and studio data."""
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "rtstyle"


def install_dir() -> Path:
    """Where new styles go: the first folder styles are looked for in."""
    return model_dirs()[0]


def thumbnail_path(model_dir: Path, base: str) -> Path:
    """The painting's JPEG among the networks of ``model_dir``: one per painting (``base``), for its
    full and fast networks alike."""
    return Path(model_dir) / f"{base}.jpg"


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
    def default_stroke(self) -> float:
        """The stroke size this network is painted with unless asked otherwise (``stroke_size`` in its metadata)."""
        try:
            return float(self.metadata.get("stroke_size", 1.0))
        except ValueError:
            return 1.0

    @property
    def edge_pad(self) -> int:
        """Mirrored pixels the engine adds on every side before painting (``edge_pad`` in the metadata)."""
        try:
            return max(0, int(self.metadata.get("edge_pad", 0)))
        except ValueError:
            return 0

    @property
    def base(self) -> str:
        """The painting's style name, shared by its full and fast networks."""
        return self.metadata.get("base_style") or self.name.removesuffix("_fast")

    @property
    def thumbnail(self) -> Path:
        """Where a JPEG of the painting sits, beside its networks (it may not exist)."""
        return thumbnail_path(self.path.parent, self.base)

    @classmethod
    def from_file(cls, path: str | Path) -> StyleInfo:
        path = Path(path)
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError, OSError, ...: all mean "not a model"
            raise ModelError(f"{path}: not a readable ONNX model ({exc.__class__.__name__})") from exc
        meta = {p.key: p.value for p in model.metadata_props}
        return cls(name=meta.get("style", path.stem), path=path, metadata=meta)

    def describe(self) -> dict[str, object]:
        training = self.metadata.get("training")
        return {"name": self.name, "title": self.title, "variant": self.variant, "path": str(self.path),
                "license": self.metadata.get("license", ""), "steps": self.metadata.get("steps", ""),
                "stroke_size": self.default_stroke,
                "training": json.loads(training) if training else None}


def load_model(path: str | Path) -> onnx.ModelProto:
    """The ONNX model at ``path`` with its external data, checked against the model contract.

    The contract: one input ``frames`` and one output ``stylized``, both uint8 N×H×W×3, and
    external data (if any) inside the model's own folder. Anything else is a :class:`ModelError`.
    """
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError as exc:
        raise StyleNotFoundError(f"style model not found: {path}") from exc
    except Exception as exc:  # onnx raises DecodeError, OSError, ...: all mean "not a model"
        raise ModelError(f"{path}: not a readable ONNX model ({exc.__class__.__name__})") from exc
    check_contract(model, path)
    folder = path.resolve().parent
    for tensor in _external_tensors(model):
        location = dict((e.key, e.value) for e in tensor.external_data).get("location", "")
        if not (folder / location).resolve().is_relative_to(folder):
            raise ModelError(f"{path}: tensor {tensor.name!r} points at data outside the model's folder ({location})")
    try:
        onnx.load_external_data_for_model(model, str(folder))
    except Exception as exc:
        raise ModelError(f"{path}: its external data cannot be read ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    return model


def check_contract(model: onnx.ModelProto, path: str | Path) -> None:
    """Raise :class:`ModelError` unless ``model`` takes and returns uint8 N×H×W×3 frames by name."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    for what, values, name in (("input", inputs, INPUT_NAME), ("output", model.graph.output, OUTPUT_NAME)):
        if [v.name for v in values] != [name]:
            raise ModelError(f"{path}: breaks the model contract: its {what}s are {[v.name for v in values]}, "
                             f"not [{name!r}]")
        tensor = values[0].type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if tensor.elem_type != onnx.TensorProto.UINT8 or len(dims) != 4 or dims[3] != 3:
            kind = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else "untyped"
            shape = "×".join("?" if d is None else str(d) for d in dims)
            raise ModelError(f"{path}: breaks the model contract: {what} {name!r} is {kind} {shape or 'scalar'}, "
                             "not uint8 N×H×W×3")


def _external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """Every tensor of the model (initializers and constants, subgraphs too) stored outside it."""
    found: list[onnx.TensorProto] = []

    def visit(graph: onnx.GraphProto) -> None:
        found.extend(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                found.extend([attribute.t] if attribute.HasField("t") else attribute.tensors)
                for sub in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                    visit(sub)

    visit(model.graph)
    return [t for t in found if t.data_location == onnx.TensorProto.EXTERNAL]


def installed_styles() -> list[StyleInfo]:
    """Every ``*.onnx`` in :func:`model_dirs`, one per name, sorted by name."""
    found: dict[str, StyleInfo] = {}
    for folder in model_dirs():
        for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
            if path.stem in found:
                continue
            try:
                found[path.stem] = StyleInfo.from_file(path)
            except ModelError as exc:  # one broken file must not hide the others
                log.warning("skipped: %s", exc)
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
