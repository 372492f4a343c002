"""Patient identity on pages: hidden unless ``web.show_phi``; accession numbers shown as keyed pseudonyms."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

# Attributes never shown while show_phi is false (values are also scrubbed from rule-tester reasons).
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
)
SHOWN_WITH_PHI = ("PatientName", "PatientID", "PatientBirthDate")
HIDDEN = "[hidden]"
KEY_NAME = "web-pseudonym.key"


def load_key(root: Path) -> bytes:
    """The HMAC key for accession pseudonyms (created 0600 under the storage path on first use)."""
    path = root / KEY_NAME
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    except OSError:
        return key  # read-only storage: pseudonyms stable for this process only
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def pseudonym(key: bytes, value: str) -> str:
    if not value:
        return ""
    return "ACC-" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:10].upper()


def phi_values(ds: Dataset) -> list[str]:
    """Every PHI value in the header as text (for scrubbing free text), longest first."""
    found: set[str] = set()
    for keyword in PHI_KEYWORDS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        texts = [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]
        for text in texts:
            if len(text.strip()) >= 2:
                found.add(text.strip())
            parts = (part.strip() for part in text.replace("=", "^").split("^"))
            found.update(part for part in parts if len(part) >= 3)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, HIDDEN)
    return text


@lru_cache(maxsize=2048)
def _header(path: str, mtime_ns: int) -> Dataset | None:
    try:
        return dcmread(path, stop_before_pixels=True, specific_tags=list(PHI_KEYWORDS))
    except Exception:  # a missing or unreadable sample is shown as unknown, never an error page
        return None


def identity(path: Path, key: bytes, show_phi: bool) -> dict[str, Any]:
    """What pages show of a series' patient: the accession pseudonym, and PHI only when allowed."""
    try:
        header = _header(str(path), path.stat().st_mtime_ns)
    except OSError:
        header = None
    if header is None:
        return {"accession_pseudonym": "", "patient": None}
    patient = (
        {keyword: str(header.get(keyword, "") or "") for keyword in SHOWN_WITH_PHI} if show_phi else None
    )
    return {
        "accession_pseudonym": pseudonym(key, str(header.get("AccessionNumber", "") or "")),
        "patient": patient,
    }
