"""The studio's settings: one frozen value, made by the CLI or by tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtstyle.models import user_data_dir

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _default_data_dir() -> Path:
    return user_data_dir() / "studio"


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """Where the studio keeps its files, what it runs on, and how much it accepts."""

    device: str = "auto"
    data_dir: Path = field(default_factory=_default_data_dir)
    token: str | None = None  # every /api call needs "Authorization: Bearer <token>" when set
    upload_bytes: int = 500 * 2**20  # the largest request body
    image_pixels: int = 40_000_000  # the largest photo or painting, read from its header before decoding
    video_seconds: float = 600.0  # the longest video a job takes
    jobs: int = 1  # jobs that run at once
    queue: int = 16  # jobs waiting, and photo requests waiting for the engine, before a 503
    retention_hours: float = 24.0  # finished results are deleted after this long…
    data_cap_bytes: int = 10 * 2**30  # …or, oldest first, when the data dir holds more than this
    threads: int = 0  # CPU inference threads (0: all cores)
    photo_batch: int | None = None  # photos of one size stylized in one call: None: 1 on a CPU, 8 on a GPU
    vgg_weights: Path | None = None  # VGG16 for "your painting"; default: torch's hub cache, else $RTSTYLE_VGG16_URL

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def database(self) -> Path:
        return self.data_dir / "studio.sqlite3"
