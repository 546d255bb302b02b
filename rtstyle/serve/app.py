"""The FastAPI app: lifespan, error handling, upload limits, routers and the page."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import socket
import sys
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rtstyle import __version__
from rtstyle.errors import OutputError, RtstyleError
from rtstyle.serve.errors import one_line, status_of
from rtstyle.serve.routes import health, jobs, styles, stylize
from rtstyle.serve.routes.deps import require_token
from rtstyle.serve.settings import ServeSettings
from rtstyle.serve.state import Studio

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CLEANUP_SECONDS = 600


def create_app(settings: ServeSettings, *, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The studio as an ASGI app; the engine and job store are made when it starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio = await run_in_threadpool(Studio.open, settings)
        app.state.studio = studio
        cleaner = asyncio.create_task(_clean_periodically(studio))
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            cleaner.cancel()
            if live is not None:
                await live.close_all(studio)
            await run_in_threadpool(studio.close)

    app = FastAPI(title="rtstyle studio", version=__version__, lifespan=lifespan,
                  description="Real-time neural style transfer: photos, videos and your own paintings.")
    app.add_middleware(BodyLimit, limit=settings.upload_bytes)
    _add_error_handlers(app)
    app.include_router(health.router)
    live = _live_routes()
    for router in (styles.router, stylize.router, jobs.router, live.router if live else _no_live):
        app.include_router(router, dependencies=[Depends(require_token)])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _live_routes() -> ModuleType | None:
    """The live router, where aiortc is installed (it is in the ``serve`` extra)."""
    if importlib.util.find_spec("aiortc") is None:
        log.warning("live camera disabled: aiortc is not installed (pip install 'rtstyle[serve]')")
        return None
    from rtstyle.serve.routes import live

    return live


_no_live = APIRouter()


@_no_live.post("/api/live/offer", include_in_schema=False)
def _live_missing() -> JSONResponse:
    return error(501, "the live camera needs aiortc on the server: pip install 'rtstyle[serve]'")


async def _clean_periodically(studio: Studio) -> None:
    while True:
        await asyncio.sleep(CLEANUP_SECONDS)
        removed = await run_in_threadpool(studio.runner.cleanup)
        if removed:
            log.info("deleted %d old results", removed)


def error(status: int, message: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RtstyleError)
    async def rtstyle_error(request: Request, exc: RtstyleError) -> JSONResponse:
        return error(status_of(exc), exc, getattr(exc, "headers", None))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error(400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error(500, f"internal error ({exc.__class__.__name__}); see the server log")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is a 413, decided as early as possible.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body is
    counted as it arrives, answered with 413 as soon as it passes the limit, and the app then sees
    the client as gone (whatever it answers after that is dropped).
    """

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received, refused = 0, False

        async def counted() -> dict[str, Any]:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                refused = True
                await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: dict[str, Any]) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, unless_refused)

    async def _refuse(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        body = json.dumps({"error": f"the upload is larger than the limit of {self.limit / 2**20:.0f} MB"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def serve(settings: ServeSettings, *, host: str, port: int, open_browser: bool = False) -> int:
    """Run the studio until Ctrl-C; prints its URL once the models are loaded."""
    import uvicorn

    _check_port(host, port)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def ready() -> None:
        print(f"rtstyle studio: {url}  (data in {settings.data_dir}; Ctrl-C to stop)", file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(url)

    config = uvicorn.Config(create_app(settings, on_ready=ready), host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run()
    return 0


def _check_port(host: str, port: int) -> None:
    """Fail with one line where the port is taken, before any model is loaded."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
