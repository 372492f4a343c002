"""STOW-RS clients for tests: multipart bodies built the way real clients build them, and curl."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any


def multipart_body(
    payloads: list[bytes],
    boundary: str | None = None,
    part_type: str = "application/dicom",
    leading_crlf: bool = False,
    preamble: bytes = b"",
) -> tuple[bytes, str]:
    """(body, boundary) of a multipart/related body, one part per payload."""
    boundary = boundary or f"DICOMwebBoundary{uuid.uuid4().hex}"
    chunks = [preamble, b"\r\n" if leading_crlf else b""]
    for i, payload in enumerate(payloads):
        if i:
            chunks.append(b"\r\n")
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        chunks.append(payload)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(chunks), boundary


def dcm4che_body(files: list[Path]) -> tuple[bytes, str]:
    """What dcm4che's ``stowrs`` sends: unquoted boundary, no blanks in the Content-Type, one header per
    part with the transfer syntax as a parameter, and CRLF before each delimiter."""
    boundary = "myboundary"
    chunks: list[bytes] = []
    for path in files:
        chunks.append(
            f"\r\n--{boundary}\r\nContent-Type: application/dicom;transfer-syntax=1.2.840.10008.1.2.1"
            "\r\n\r\n".encode()
        )
        chunks.append(path.read_bytes())
    chunks.append(f"\r\n--{boundary}--".encode())
    return b"".join(chunks), f'multipart/related;type="application/dicom";boundary={boundary}'


def curl(url: str, *args: str, timeout: float = 120) -> tuple[int, Any]:
    """Run curl; (HTTP status, parsed JSON body or text)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, url],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"curl failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    text, _, code = result.stdout.decode(errors="replace").rpartition("\n")
    try:
        return int(code), json.loads(text) if text else None
    except ValueError:
        return int(code), text


def stored_uids(answer: dict[str, Any]) -> list[str]:
    """SOP Instance UIDs in a STOW response's ReferencedSOPSequence (0008,1199)."""
    items = answer.get("00081199", {}).get("Value", [])
    return [str(item["00081155"]["Value"][0]) for item in items]


def failures(answer: dict[str, Any]) -> list[int]:
    """Failure Reasons (0008,1197) in a STOW response's FailedSOPSequence (0008,1198)."""
    items = answer.get("00081198", {}).get("Value", [])
    return [int(item["00081197"]["Value"][0]) for item in items]


def ledger_instances(engine: Any) -> dict[str, dict[str, Any]]:
    """Every instance row of a ledger, by SOP Instance UID (path, calling AE title...)."""
    from sqlalchemy import select

    from dicom_node.ledger import schema

    with engine.connect() as conn:
        rows = conn.execute(select(schema.instances)).mappings().all()
    return {str(row["sop_instance_uid"]): dict(row) for row in rows}
