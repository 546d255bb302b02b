"""``rtstyle serve``: the web studio — a page and an HTTP API over the same engine as the CLI.

One process: FastAPI on uvicorn. :mod:`rtstyle.serve.app` builds the app; its lifespan creates
the long-lived state (:class:`rtstyle.serve.state.Studio`: the engine's worker thread, the job
store and the job runner) once, and the routers in :mod:`rtstyle.serve.routes` receive it as a
dependency. Needs the ``serve`` extra: ``pip install 'rtstyle[serve]'``.
"""
