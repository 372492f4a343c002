"""STOW-RS send (PS3.18 §10.5): results to a ``type: dicomweb`` destination, one outcome per object.

Objects go in requests of at most ``dispatch.batch_size`` objects and ``max_request_mb`` megabytes, each a
``multipart/related; type="application/dicom"`` body streamed from the files (never built in memory). The
answer decides each object: listed in the ReferencedSOPSequence → accepted (status 0, or 0xB000 with a
Warning Reason); listed in the FailedSOPSequence → its Failure Reason; not listed → accepted only on a
200 without a body (some servers answer so), otherwise a failure. An HTTP error for the whole request
(401, 403, 413, 415, 5xx) fails every object of it; a server that cannot be reached, or that refuses our
credentials, raises :class:`~dicom_node.errors.DeliveryError` so the runner backs off (as for a refused
association). TLS is verified by default (``verify_tls``, ``ca``); credentials come from ``token_file``
(read at every send, so a rotated token is picked up) and ``headers``.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from pydicom.filereader import read_file_meta_info

from dicom_node.config import DicomWebDestinationConfig
from dicom_node.errors import DeliveryError
from dicom_node.logsetup import get_logger
from dicom_node.network.sender import OutcomeCallback, Outgoing, SendOutcome

log = get_logger("dicom_node.stow_send")

CHUNK = 1024 * 1024
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
WARNING = 0xB000


def client(destination: DicomWebDestinationConfig) -> httpx.Client:
    """An HTTP client with the destination's TLS settings, credentials and timeouts."""
    headers = {name: value.get_secret_value() for name, value in destination.headers.items()}
    if destination.token_file is not None:
        try:
            token = destination.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(f"cannot read token_file {destination.token_file}: {exc.strerror}") from None
        headers["Authorization"] = f"Bearer {token}"
    verify: bool | ssl.SSLContext = destination.verify_tls
    if destination.verify_tls and destination.ca is not None:
        verify = ssl.create_default_context(cafile=str(destination.ca))
    if destination.client_cert is not None and isinstance(verify, ssl.SSLContext):
        verify.load_cert_chain(str(destination.client_cert), str(destination.client_key or ""))
    elif destination.client_cert is not None:
        context = ssl.create_default_context() if destination.verify_tls else ssl._create_unverified_context()
        context.load_cert_chain(
            str(destination.client_cert), str(destination.client_key) if destination.client_key else None
        )
        verify = context
    return httpx.Client(verify=verify, headers=headers, timeout=destination.timeout_s)


def _batches(objects: list[Outgoing], batch_size: int, max_bytes: int) -> list[list[Outgoing]]:
    batches: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 0
    for obj in objects:
        length = obj.path.stat().st_size
        if current and (len(current) >= batch_size or size + length > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(obj)
        size += length
    if current:
        batches.append(current)
    return batches


def _body(batch: list[Outgoing], boundary: str) -> Iterator[bytes]:
    for obj in batch:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        with obj.path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _items(answer: dict[str, Any], keyword: str) -> list[dict[str, Any]]:
    value = answer.get(keyword, {}).get("Value", [])
    return value if isinstance(value, list) else []


def _first(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value", [])
    return values[0] if values else None


def outcomes_from_answer(
    batch: list[Outgoing], uids: dict[int, str], response: httpx.Response
) -> list[SendOutcome]:
    """Per-object outcomes from a STOW-RS response (200, 202, 409 with a DICOM JSON body)."""
    answer: dict[str, Any] = {}
    if response.content:
        try:
            parsed = json.loads(response.content)
            answer = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            answer = {}
    stored: dict[str, int] = {}
    for item in _items(answer, REFERENCED_SOP_SEQUENCE):
        warning = _first(item, WARNING_REASON)
        stored[str(_first(item, SOP_INSTANCE_UID))] = WARNING if warning is not None else 0
    failed = {
        str(_first(item, SOP_INSTANCE_UID)): int(_first(item, FAILURE_REASON) or 0x0110)
        for item in _items(answer, FAILED_SOP_SEQUENCE)
    }
    outcomes = []
    for obj in batch:
        uid = uids[obj.key]
        if uid in stored:
            outcomes.append(SendOutcome(obj.key, stored[uid], None))
        elif uid in failed:
            code = failed[uid]
            outcomes.append(SendOutcome(obj.key, code, f"STOW-RS failure reason 0x{code:04X}"))
        elif response.status_code == 200 and not answer:
            outcomes.append(SendOutcome(obj.key, 0, None))
        else:
            outcomes.append(
                SendOutcome(obj.key, None, f"not in the STOW-RS answer (HTTP {response.status_code})")
            )
    return outcomes


def send(
    destination: DicomWebDestinationConfig,
    calling_ae: str,
    objects: list[Outgoing],
    batch_size: int = 200,
    on_outcome: OutcomeCallback | None = None,
) -> list[SendOutcome]:
    """STOW-RS ``objects`` to ``destination``; raises :class:`DeliveryError` when it cannot be reached."""
    outcomes: list[SendOutcome] = []

    def record(outcome: SendOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    uids: dict[int, str] = {}
    readable: list[Outgoing] = []
    for obj in objects:
        try:
            meta = read_file_meta_info(obj.path)
            uids[obj.key] = str(meta.get("MediaStorageSOPInstanceUID", ""))
            readable.append(obj)
        except (OSError, ValueError) as exc:
            record(SendOutcome(obj.key, None, f"cannot read output file: {exc}"))
    url = f"{destination.url}/studies"
    max_bytes = int(destination.max_request_mb * 1024 * 1024)
    with client(destination) as http:
        for number, batch in enumerate(_batches(readable, batch_size, max_bytes)):
            boundary = f"dicom-node-{uuid.uuid4().hex}"
            try:
                response = http.post(
                    url,
                    content=_body(batch, boundary),
                    headers={
                        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                        "Accept": "application/dicom+json",
                    },
                )
            except httpx.HTTPError as exc:
                if number == 0:  # nothing went through: the destination is unreachable
                    raise DeliveryError(f"STOW-RS to {url} failed: {type(exc).__name__}: {exc}") from None
                for obj in batch:
                    record(SendOutcome(obj.key, None, f"STOW-RS request failed: {type(exc).__name__}"))
                continue
            if response.status_code in (401, 403):
                raise DeliveryError(f"STOW-RS to {url} refused our credentials (HTTP {response.status_code})")
            if response.status_code in (200, 202, 409):
                for outcome in outcomes_from_answer(batch, uids, response):
                    record(outcome)
            else:
                reason = f"STOW-RS answered HTTP {response.status_code}: {response.text[:120]}"
                for obj in batch:
                    record(SendOutcome(obj.key, None, reason))
            log.info("stow_sent", url=url, objects=len(batch), http_status=response.status_code)
    return outcomes


def probe(destination: DicomWebDestinationConfig) -> tuple[bool, str]:
    """A QIDO-RS query for one study: does the service answer us (the DICOMweb C-ECHO)?"""
    try:
        with client(destination) as http:
            response = http.get(f"{destination.url}/studies", params={"limit": "1"})
    except (httpx.HTTPError, DeliveryError) as exc:
        return False, f"cannot reach {destination.url}: {type(exc).__name__}"
    ok = response.status_code in (200, 204)
    return ok, f"QIDO-RS HTTP {response.status_code}"
