"""The FastAPI application: REST API, pages, metrics and health, wired to the node's parts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from dicom_node.config import WebConfig
from dicom_node.errors import JobStateConflict, NotFoundError
from dicom_node.logsetup import get_logger
from dicom_node.web import api, health, pages, stow
from dicom_node.web.auth import Authenticator
from dicom_node.web.context import WebParts, as_parts
from dicom_node.web.metrics import registry_for
from dicom_node.web.stow_auth import StowGate

if TYPE_CHECKING:
    from dicom_node.node import Node

log = get_logger("dicom_node.web")
STATIC = Path(__file__).with_name("static")


def create_app(node_or_parts: Node | WebParts, config: WebConfig | None = None) -> FastAPI:
    """The web app for a running node (or its parts). ``config`` defaults to the node's ``web`` section."""
    parts = as_parts(node_or_parts)
    web = config if config is not None else parts.config.web
    if web is not parts.config.web:
        parts.config = parts.config.model_copy(update={"web": web})
    app = FastAPI(
        title="dicom-node",
        summary="Operations API of the DICOM node: series, jobs, rules, destinations, anonymizer batches",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.parts = parts
    app.state.auth = Authenticator(web)
    app.state.stow = StowGate(web)
    app.state.metrics = registry_for(parts)
    app.include_router(api.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(stow.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # domain errors of operator actions, for the API and the pages alike
    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return JSONResponse({"detail": f"{exc.what} not found"}, status_code=404)

    @app.exception_handler(JobStateConflict)
    async def conflict(request: Request, exc: JobStateConflict) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # never a stack trace or a value in the answer; the log has the details (no PHI there either)
        log.error("web_error", path=request.url.path, error=type(exc).__name__, exc_info=True)
        return JSONResponse({"detail": "internal error; see the node log"}, status_code=500)

    if not app.state.auth.enabled:
        log.info("web_actions_disabled", reason="no web.tokens or web.users configured")
    return app
