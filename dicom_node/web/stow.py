"""STOW-RS receive (PS3.18 §10.5): ``POST /dicom-web/studies[/{StudyInstanceUID}]``.

The same promise as C-STORE: the body (``multipart/related; type="application/dicom"``) is streamed part
by part to temporary files in the spool (never held in memory); each part is then stored by the same
:class:`~dicom_node.ingest.Ingestor` as a C-STORE (moved into place, folders fsynced, ledger group
commit), so an instance is listed as stored in the response only once it is durable and recorded. From
there the usual completion, routing, pipelines and anonymisation take over. A part that cannot be
stored fails alone, with a Failure Reason in the response:

=========  ===================================================================================
0xC000     not a Part 10 DICOM file, or a part whose Content-Type is not application/dicom
0xC001     a required UID is missing
0xA700     out of resources: the part is over ``web.stow.max_instance_mb``, or the disk is full
0xA701     the storage path cannot take it
0xA900     its Study Instance UID is not the one in the URL
0x0110     internal error
=========  ===================================================================================

Answers: 200 all stored; 202 some stored, some failed; 409 none stored (each with the STOW response
dataset, ``application/dicom+json``); 400 a body that is not valid multipart (instances finished before
the fault stay stored); 401 no or unknown credentials; 403 STOW-RS disabled; 413 a request over
``web.stow.max_request_mb``; 415 a Content-Type other than multipart/related of application/dicom; 503
free space below the floor, or no receiver in this web server's process.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import Response
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from dicom_node.errors import InvalidDatasetError, StorageFullError
from dicom_node.ingest import Ingestor, parse_header_file
from dicom_node.logsetup import get_logger
from dicom_node.multipart import MultipartError, Part, PartWriter, boundary_of
from dicom_node.network.receiver import store_status
from dicom_node.web.context import WebParts
from dicom_node.web.stow_auth import StowGate

log = get_logger("dicom_node.stow")
router = APIRouter(prefix="/dicom-web", tags=["dicomweb"])

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
CANNOT_UNDERSTAND = 0xC000
MISSING_UID = 0xC001
OUT_OF_RESOURCES = 0xA700
STUDY_MISMATCH = 0xA900
MB = 1024 * 1024
StudyUID = Annotated[str, Path(max_length=64, pattern=r"^[0-9.]+$")]


@dataclass(frozen=True)
class Outcome:
    sop_class_uid: str
    sop_instance_uid: str
    failure: int | None  # None: stored
    reason: str = ""


class _TooLarge(Exception):
    pass


def _failure(part: Part, code: int, reason: str, header_uids: tuple[str, str] = ("", "")) -> Outcome:
    part.discard()
    return Outcome(header_uids[0], header_uids[1], code, reason)


def store_part(ingestor: Ingestor, part: Part, client: str, study: str | None) -> Outcome:
    """Store one finished part (blocking: runs in a worker thread); never raises."""
    if part.path is None:
        return _failure(part, CANNOT_UNDERSTAND, f"part Content-Type {part.content_type!r} is not {DICOM}")
    try:
        header = parse_header_file(part.path)
    except InvalidDatasetError as exc:
        code = MISSING_UID if str(exc).endswith("is missing") else CANNOT_UNDERSTAND
        if part.oversized:
            code = OUT_OF_RESOURCES
        return _failure(part, code, "over the size limit" if part.oversized else str(exc))
    uids = (header.sop_class_uid, header.sop_instance_uid)
    if part.oversized:
        return _failure(part, OUT_OF_RESOURCES, "over web.stow.max_instance_mb", uids)
    if study is not None and header.study_instance_uid != study:
        return _failure(part, STUDY_MISMATCH, "Study Instance UID is not the one in the URL", uids)
    try:
        ingestor.store_file(part.path, header, part.size, client)
    except Exception as exc:
        part.discard()
        status_ds = store_status(exc)
        level = "warning" if isinstance(exc, InvalidDatasetError | StorageFullError) else "error"
        getattr(log, level)("stow_part_failed", client=client, part=part.index, reason=str(exc))
        return Outcome(*uids, int(status_ds.Status), str(status_ds.ErrorComment))
    return Outcome(*uids, None)


def stow_response(outcomes: list[Outcome]) -> Dataset:
    """The STOW-RS response dataset: ReferencedSOPSequence (stored), FailedSOPSequence (with reasons)."""
    ds = Dataset()
    stored, failed = [], []
    for outcome in outcomes:
        item = Dataset()
        item.ReferencedSOPClassUID = outcome.sop_class_uid
        item.ReferencedSOPInstanceUID = outcome.sop_instance_uid
        if outcome.failure is None:
            stored.append(item)
        else:
            item.FailureReason = outcome.failure
            failed.append(item)
    if stored:
        ds.ReferencedSOPSequence = stored
    if failed:
        ds.FailedSOPSequence = failed
    return ds


def _answer(outcomes: list[Outcome]) -> Response:
    stored = sum(o.failure is None for o in outcomes)
    code = 200 if stored == len(outcomes) else 202 if stored else 409
    body = json.dumps(stow_response(outcomes).to_json_dict())
    return Response(body, status_code=code, media_type=DICOM_JSON)


def _check_request(request: Request, parts: WebParts) -> tuple[str, int]:
    """(boundary, request size limit) or the HTTP error for the request as a whole."""
    media, params = boundary_of(request.headers.get("content-type", ""))
    root_type = params.get("type", DICOM).lower()
    if media != "multipart/related" or root_type != DICOM:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f'send multipart/related; type="{DICOM}" (got {media or "no Content-Type"}'
            + (f", type {root_type}" if media == "multipart/related" else "")
            + ")",
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the Content-Type has no boundary parameter")
    limit = int(parts.config.web.stow.max_request_mb * MB)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413,
            f"the request is over web.stow.max_request_mb ({parts.config.web.stow.max_request_mb:g} MB)",
        )
    if not parts.storage.has_room():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "free space is below the floor",
            headers={"Retry-After": "60"},
        )
    return boundary, limit


@router.post("/studies", summary="STOW-RS: store instances", response_class=Response)
async def store(request: Request) -> Response:
    return await _store(request, None)


@router.post("/studies/{study}", summary="STOW-RS: store instances of one study", response_class=Response)
async def store_study(request: Request, study: StudyUID) -> Response:
    return await _store(request, study)


async def _store(request: Request, study: str | None) -> Response:
    gate: StowGate = request.app.state.stow
    client = gate.client(request)
    parts: WebParts = request.app.state.parts
    ingestor = parts.ingestor
    if ingestor is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no receiver in this process (STOW-RS needs dicom-node serve)",
        )
    boundary, limit = _check_request(request, parts)
    max_part = int(parts.config.web.stow.max_instance_mb * MB)
    try:
        writer = PartWriter(boundary, parts.storage.spool, DICOM, DICOM, max_part)
    except MultipartError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    writer.fsync = parts.storage.fsync
    outcomes: list[Outcome] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _TooLarge
            # parsing writes and fsyncs files: off the event loop, as the storing of each finished part
            outcomes += await run_in_threadpool(_feed, writer, chunk, ingestor, client, study)
        writer.close()
        if not outcomes:
            raise MultipartError("the body has no parts")
    except MultipartError as exc:
        return _refused(status.HTTP_400_BAD_REQUEST, str(exc), outcomes, client)
    except _TooLarge:
        return _refused(413, "the request is over web.stow.max_request_mb", outcomes, client)
    except ClientDisconnect:
        log.warning("stow_disconnected", client=client, stored=sum(o.failure is None for o in outcomes))
        return Response(status_code=400)
    finally:
        with contextlib.suppress(OSError):
            writer.abort()
    failed = [o for o in outcomes if o.failure is not None]
    log.info("stow_received", client=client, stored=len(outcomes) - len(failed), failed=len(failed))
    for outcome in failed:
        log.warning("stow_instance_failed", client=client, reason=f"0x{outcome.failure:04X} {outcome.reason}")
    return _answer(outcomes)


def _feed(
    writer: PartWriter, chunk: bytes, ingestor: Ingestor, client: str, study: str | None
) -> list[Outcome]:
    return [store_part(ingestor, part, client, study) for part in writer.feed(chunk)]


def _refused(code: int, reason: str, outcomes: list[Outcome], client: str) -> Response:
    stored = [o for o in outcomes if o.failure is None]
    log.warning("stow_refused", client=client, status=code, reason=reason, stored_before=len(stored))
    detail = {"detail": reason, "stored_before_the_fault": [o.sop_instance_uid for o in stored]}
    return Response(json.dumps(detail), status_code=code, media_type="application/json")
