"""Load on the studio: N concurrent clients posting 640×360 JPEGs to ``POST /api/stylize``.

    python benchmarks/serve_load.py [--clients 1,4,16] [--seconds 30] [--size 640x360] [--style udnie]

Starts ``rtstyle serve`` in a subprocess (the shipped styles: the fast networks on a CPU), then
for each client count runs that many threads, each posting the same JPEG in a loop, and prints
images/s, p50/p95/p99 latency, errors and the server's resident memory before and after. First
it times ``Engine.stylize`` in this process at the same size (the ceiling the server is held to:
the target is ≥ 80% of it at 16 clients). The clients share the machine with the server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np

from rtstyle.engine import Engine, EngineConfig
from rtstyle.models import find_style
from rtstyle.synthetic import scene


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def studio_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``rtstyle serve`` in a subprocess on a free port with a scratch data dir: (the process, its URL)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, "-m", "rtstyle", "serve", "--port", str(port), "--data-dir", data],
                                  stderr=subprocess.PIPE, text=True)
        try:
            ready = server.stderr.readline() if server.stderr else ""
            if "rtstyle studio" not in ready:
                raise SystemExit(f"the server did not start: {ready}")
            yield server, f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process_rate(style: str, frame: np.ndarray, seconds: float) -> float:
    engine = Engine([find_style(style)], EngineConfig(device="cpu"))
    engine.stylize(frame)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        engine.stylize(frame)
        n += 1
    return n / (time.perf_counter() - start)


def load(url: str, body: bytes, style: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                r = http.post("/api/stylize", files={"image": ("frame.jpg", body, "image/jpeg")},
                              data={"style": style})
                took = time.perf_counter() - began
                with lock:
                    if r.status_code == 200:
                        latencies.append(took)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - began


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="1,4,16")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--size", default="640x360")
    p.add_argument("--style", default="udnie", help="a painting; the server runs its fast network on a CPU")
    args = p.parse_args()
    width, height = map(int, args.size.split("x"))
    frame = scene(7, width, height)
    body = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()

    ceiling = in_process_rate(f"{args.style}_fast", frame, min(args.seconds, 10))
    print(f"in-process Engine.stylize ({args.style}_fast, {width}x{height}): {ceiling:.1f} images/s")

    with studio_server() as (server, url):
        load(url, body, args.style, 2, 2)  # warm-up
        print("| clients | images/s | of in-process | p50 ms | p95 ms | p99 ms | errors | server MB |")
        print("|---|---|---|---|---|---|---|---|")
        for clients in map(int, args.clients.split(",")):
            before = rss_mb(server.pid)
            latencies, errors, took = load(url, body, args.style, clients, args.seconds)
            after = rss_mb(server.pid)
            rate = len(latencies) / took
            p50, p95, p99 = (1000 * float(np.percentile(latencies, q)) for q in (50, 95, 99))
            print(f"| {clients} | {rate:.1f} | {rate / ceiling:.0%} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
                  f"{errors} | {before:.0f} → {after:.0f} |", flush=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
