"""The REST API under ``/api``: series, jobs, rules (and the tester), destinations, anonymizer batches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse

from dicom_node.ledger import queries
from dicom_node.web import actions, schemas, views
from dicom_node.web.auth import Operator, require_operator
from dicom_node.web.context import WebParts
from dicom_node.web.tester import MAX_UPLOAD_BYTES, UnreadableUpload, run_rule_test

router = APIRouter(prefix="/api", tags=["api"])

MAX_ID = 2**62  # SQLite integers are 64-bit: larger path ids are simply "not found"
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Text = Annotated[str | None, Query(max_length=128)]
Since = Annotated[float | None, Query(ge=0, le=1e11, description="UNIX seconds")]
Auth = Annotated[Operator, Depends(require_operator)]


def parts_of(request: Request) -> WebParts:
    parts: WebParts = request.app.state.parts
    return parts


Parts = Annotated[WebParts, Depends(parts_of)]


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def _clean(text: str | None) -> str | None:
    """Query text without NUL characters (the database refuses them); empty means no filter."""
    if text is None:
        return None
    return text.replace("\x00", "") or None


@router.get("/overview", response_model=schemas.Overview)
def get_overview(parts: Parts) -> dict[str, Any]:
    return views.overview(parts)


@router.get("/series", response_model=list[schemas.SeriesOut])
def list_series(
    parts: Parts,
    state: Text = None,
    modality: Text = None,
    calling_ae: Text = None,
    q: Annotated[str | None, Query(max_length=128, description="part of a UID or the description")] = None,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    flt = queries.SeriesFilter(_clean(state), _clean(modality), _clean(calling_ae), _clean(q), since)
    return views.with_identity(parts, queries.list_series(parts.ledger, flt, limit, offset))


@router.get("/series/{series_id}", response_model=schemas.SeriesDetail)
def get_series(parts: Parts, series_id: Id) -> dict[str, Any]:
    detail = views.series_detail(parts, series_id)
    if detail is None:
        raise _not_found(f"series {series_id}")
    return detail


@router.get("/jobs", response_model=list[schemas.JobOut])
def list_jobs(
    parts: Parts,
    state: Text = None,
    pipeline: Text = None,
    rule: Text = None,
    series_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    flt = queries.JobFilter(_clean(state), _clean(pipeline), _clean(rule), series_id)
    return queries.list_jobs(parts.ledger, flt, limit, offset)


@router.get("/jobs/{job_id}", response_model=schemas.JobDetail)
def get_job(parts: Parts, job_id: Id) -> dict[str, Any]:
    detail = views.job_detail(parts, job_id)
    if detail is None:
        raise _not_found(f"job {job_id}")
    return detail


def retry(parts: WebParts, job_id: int) -> str:
    """Re-queue a failed job and wake the workers (NotFoundError, JobStateConflict: see ``app``)."""
    state = parts.ledger.retry_job(job_id)
    parts.wake_workers()
    return state


def discard(parts: WebParts, job_id: int, operator: Operator) -> str:
    """Discard a job nobody works on (failed, queued, produced)."""
    return parts.ledger.discard_job(job_id, operator.name)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=schemas.ActionResult,
    responses={401: {"description": "no or invalid credentials"}, 409: {"description": "not failed"}},
)
def retry_job(parts: Parts, job_id: Id, operator: Auth) -> dict[str, Any]:
    return {"job_id": job_id, "state": retry(parts, job_id)}


@router.post(
    "/jobs/{job_id}/discard",
    response_model=schemas.ActionResult,
    responses={401: {"description": "no or invalid credentials"}, 409: {"description": "running"}},
)
def discard_job(parts: Parts, job_id: Id, operator: Auth) -> dict[str, Any]:
    return {"job_id": job_id, "state": discard(parts, job_id, operator)}


@router.get(
    "/jobs/{job_id}/outputs/{delivery_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/dicom": {}}}, 401: {"description": "needs credentials"}},
)
def output_file(parts: Parts, job_id: Id, delivery_id: Id, operator: Auth) -> FileResponse:
    """The output object as sent (it carries the patient's identity, hence the credentials)."""
    for delivery in parts.ledger.deliveries(job_id):
        if delivery.id == delivery_id:
            path = parts.storage.absolute(delivery.path)
            if not path.is_file():
                raise _not_found("output file")
            name = f"{delivery.sop_instance_uid}.dcm"
            return FileResponse(path, media_type="application/dicom", filename=name)
    raise _not_found(f"output {delivery_id} of job {job_id}")


@router.get("/rules", response_model=list[schemas.RuleOut])
def list_rules(parts: Parts) -> list[dict[str, Any]]:
    return views.rules(parts)


@router.post(
    "/rules/test",
    response_model=schemas.RuleTestOut,
    responses={422: {"description": "not a readable DICOM file"}, 413: {"description": "too large"}},
)
def rule_test(
    parts: Parts, file: Annotated[UploadFile, File(description="one DICOM file")]
) -> dict[str, Any]:
    """Which rules would fire for this file, and the value each condition compared."""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "upload larger than 64 MiB")
    try:
        return run_rule_test(parts.rules, data, parts.config.web.show_phi)
    except UnreadableUpload as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/destinations", response_model=list[schemas.DestinationOut])
def list_destinations(parts: Parts) -> list[dict[str, Any]]:
    return views.destinations(parts)


@router.post(
    "/destinations/{name}/echo",
    response_model=schemas.EchoOut,
    responses={401: {"description": "needs credentials"}, 404: {"description": "unknown destination"}},
)
def echo_destination(
    parts: Parts, name: Annotated[str, Path(max_length=64)], operator: Auth
) -> dict[str, Any]:
    destination = parts.config.destinations.get(name)
    if destination is None:
        raise _not_found(f"destination {name!r}")
    result = actions.echo(destination, parts.config.node.ae_title)
    return {"destination": name, **result.__dict__}


@router.get("/anonymizer/batches", response_model=list[schemas.BatchOut])
def anonymizer_batches(parts: Parts) -> list[dict[str, Any]]:
    return views.anonymizer_batches(parts)
