"""The studio's job records (rtstyle/serve/store.py)."""

from __future__ import annotations

from pathlib import Path

from rtstyle.serve.store import JobStore


def test_store_survives_reopening(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.add(kind="video", style="s", name="a.mp4", frames_total=10)
    store.update(job.id, state="done", result="result.mp4", frames_done=10)
    store.close()
    again = JobStore(tmp_path / "jobs.sqlite3").get(job.id)
    assert again is not None and again.state == "done" and again.finished is not None
