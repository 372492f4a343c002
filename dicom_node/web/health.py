"""``/healthz`` (the process answers) and ``/readyz`` (ledger reachable, receiver listening, disk room)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from dicom_node.ledger import queries
from dicom_node.web import schemas
from dicom_node.web.context import WebParts
from dicom_node.web.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> dict[str, Any]:
    return {"status": "ok", "checks": {}}


@router.get("/readyz", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
def readyz(request: Request) -> JSONResponse:
    parts: WebParts = request.app.state.parts
    checks = {"ledger": queries.ledger_reachable(parts.ledger), "storage": parts.storage.has_room()}
    if parts.receiving is not None:
        checks["receiver"] = parts.receiving()
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    body, content_type = render(request.app.state.metrics)
    return Response(body, media_type=content_type)
