"""Measure the band a network paints along the borders of a picture, and the margin that removes it.

``python -m export.edge_pad models/*_fast.onnx [--write]``

A network with zero padding inside (the fast networks) knows where the picture ends and paints
something else there: woman_with_hat_fast a pink band, others a dark or light frame. For each
margin M, held-out photos at the working size (640×360) are painted with M mirrored pixels on
every side, and the outer 4 pixels of each side are compared with the same pixels painted with a
wide margin (64), where the border is far away. The band is the largest mean difference (levels,
any channel, any side, over the photos). ``--write`` stores the smallest margin whose band is
at most ``--tolerance`` levels as the model's ``edge_pad`` metadata, which the engine applies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx

from export.contact_sheet import DEFAULT_CONTENT, held_out_photos
from rtstyle.engine import Engine, EngineConfig, _pad
from rtstyle.errors import InputError
from rtstyle.models import StyleInfo
from rtstyle.strokes import shrink
from rtstyle.training.onnx_export import save_model

MARGINS = (0, 8, 16, 24, 32, 40)
REFERENCE_MARGIN = 64
OUTER = 4  # pixels of each side compared


def band(engine: Engine, name: str, photos: np.ndarray, margin: int, reference: np.ndarray | None = None
         ) -> tuple[float, np.ndarray]:
    """(band in levels against ``reference``, the painted photos) for ``margin`` mirrored pixels."""
    runner = engine._sessions[name]
    h, w = photos.shape[1:3]
    painted = np.concatenate([runner.run(_pad(f[None], margin))[:, margin:margin + h, margin:margin + w]
                              for f in photos])
    if reference is None:
        return 0.0, painted
    d = painted.astype(np.float32) - reference
    sides = (d[:, :, -OUTER:], d[:, :, :OUTER], d[:, :OUTER], d[:, -OUTER:])
    return float(max(np.abs(s.mean(axis=(0, 1, 2))).max() for s in sides)), painted


def measure(path: Path, photos: np.ndarray) -> dict[int, float]:
    info = StyleInfo.from_file(path)
    engine = Engine([info], EngineConfig(device="cpu"))
    _, reference = band(engine, info.name, photos, REFERENCE_MARGIN)
    return {m: band(engine, info.name, photos, m, reference.astype(np.float32))[0] for m in MARGINS}


def write_metadata(path: Path, **values: str) -> None:
    """Set metadata keys of the model at ``path`` in place."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(values)
    onnx.helper.set_model_props(model, props)
    save_model(model, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--content-dir", default=str(DEFAULT_CONTENT), help="training photos (held-out ones are used)")
    p.add_argument("--photos", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=2.0, help="largest band (levels) left")
    p.add_argument("--write", action="store_true", help="store the margin as the model's edge_pad")
    args = p.parse_args(argv)
    pictures = held_out_photos(Path(args.content_dir), args.photos)
    if not pictures:
        raise InputError(f"no photos in {args.content_dir}")
    photos = np.concatenate([shrink(f[None], (360, 640)) for f in pictures])
    for path in args.models:
        bands = measure(path, photos)
        chosen = next((m for m, b in bands.items() if b <= args.tolerance), MARGINS[-1])
        print(f"{path.name:26s} " + " ".join(f"M{m}:{b:5.1f}" for m, b in bands.items()) + f"  -> edge_pad {chosen}")
        if args.write:
            write_metadata(path, edge_pad=str(chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
