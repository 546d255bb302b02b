"""The studio's long-lived state, made once by the app's lifespan: engine, worker, jobs, paintings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtstyle.engine import Engine, EngineConfig, auto_variant, default_batch_size
from rtstyle.errors import ModelError, StyleNotFoundError
from rtstyle.models import StyleInfo, default_style, installed_styles, pick_variant
from rtstyle.serve.jobs import JobRunner
from rtstyle.serve.settings import ServeSettings
from rtstyle.serve.store import JobStore
from rtstyle.serve.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Painting:
    """One gallery card: a painting, the network the engine runs for it, and its other variants."""

    network: StyleInfo
    variants: tuple[str, ...]
    thumbnail: Path | None  # a JPEG of the painting shipped beside its networks, if there is one

    @property
    def name(self) -> str:
        return self.network.base

    def describe(self) -> dict[str, object]:
        meta = self.network.metadata
        return {"name": self.name, "painting": meta.get("painting", self.name), "artist": meta.get("artist", ""),
                "year": meta.get("year", ""), "variants": list(self.variants), "network": self.network.name,
                "thumbnail": f"/api/styles/{self.name}/thumbnail"}


def catalogue(variant: str) -> list[Painting]:
    """Every installed painting, with its ``variant`` network where it has one (as ``--variant`` does)."""
    everything = installed_styles()
    paintings = []
    for network in pick_variant(everything, variant):
        same = [s for s in everything if s.base == network.base]
        thumbs = [s.thumbnail for s in same if s.thumbnail.is_file()]
        paintings.append(Painting(network, tuple(sorted({s.variant for s in same})), thumbs[0] if thumbs else None))
    return paintings


class Studio:
    """Owns everything that lives as long as the server; :meth:`open` and :meth:`close` bracket it."""

    def __init__(self, settings: ServeSettings, engine: Engine, paintings: list[Painting]):
        self.settings = settings
        self.engine = engine
        self.paintings = {p.name: p for p in paintings}
        self.default = next((p.name for p in paintings if p.network.base == default_style().base), paintings[0].name)
        photo_batch = settings.photo_batch or default_batch_size(engine.provider)
        self.worker = Worker(engine, queue_size=settings.queue, photo_batch=photo_batch)
        self.worker.start()
        self.store = JobStore(settings.database)
        self.runner = JobRunner(settings, self.store, self.worker)
        self.runner.cleanup()
        self.variant = "fast" if engine.provider == "CPUExecutionProvider" else "full"
        self.thumbnails: dict[str, bytes] = {}  # made from a network's output where no painting ships
        self.live_sessions: set[Any] = set()  # routes.live.Session, one per tab; the app closes them on shutdown

    @classmethod
    def open(cls, settings: ServeSettings) -> Studio:
        paintings = catalogue(auto_variant(settings.device))
        if not paintings:
            raise StyleNotFoundError("no styles installed: nothing to serve (set RTSTYLE_MODELS to a folder of .onnx)")
        # The event loop, the WebRTC codecs and job threads share the cores with inference: no spinning
        # (the live policy of rtstyle.live.LIVE_SPIN; alone it costs nothing measurable here).
        config = EngineConfig(device=settings.device, threads=settings.threads, spin=False)
        engine, served = None, []
        for painting in paintings:  # a broken model file is left out of the gallery, with one line in the log
            try:
                if engine is None:
                    engine = Engine([painting.network], config)
                else:
                    engine.add(painting.network)
                served.append(painting)
            except ModelError as exc:
                log.warning("left out of the gallery: %s", exc)
        if engine is None:
            raise ModelError("no installed style could be loaded: nothing to serve (see the lines above)")
        log.info("studio: %d paintings on %s", len(served), engine.provider)
        return cls(settings, engine, served)

    def close(self) -> None:
        self.runner.close()
        self.worker.close()
        self.store.close()

    def add_style(self, files: list[Path]) -> Path:
        """Serve a newly installed painting whose networks are ``files``: it joins the gallery and the
        live keys at once. Returns the network the engine runs for it."""
        base = StyleInfo.from_file(files[0]).base
        painting = next(p for p in catalogue(self.variant) if p.name == base)
        self.engine.add(painting.network)
        self.thumbnails.pop(base, None)
        self.paintings = {**self.paintings, painting.name: painting}  # one swap: readers never see it half-made
        log.info("studio: %s joined the gallery (%s)", base, painting.network.name)
        return painting.network.path

    def painting(self, name: str | None) -> Painting:
        """A painting by its name or one of its networks' names; the default one for None or ''."""
        if not name:
            return self.paintings[self.default]
        for painting in self.paintings.values():
            if name in (painting.name, painting.network.name, painting.network.path.stem):
                return painting
        raise StyleNotFoundError(f"unknown style {name!r} (installed: {', '.join(self.paintings)})")
