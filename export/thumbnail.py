"""A small JPEG of each painting beside its networks, for the studio's gallery.

``python -m export.thumbnail`` writes ``models/<style>.jpg`` for every installed style whose
training configuration names its painting (and that file is readable here); the studio shows
it on the painting's card, for the full and the fast network alike.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rtstyle.images import write_thumbnail
from rtstyle.models import installed_styles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.thumbnail", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="where training paths are relative to")
    args = parser.parse_args(argv)
    for style in installed_styles():
        if style.variant != "full":
            continue
        painting = args.root / json.loads(style.metadata.get("training") or "{}").get("style", "")
        if painting.is_file():
            print(write_thumbnail(painting, style.thumbnail))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
