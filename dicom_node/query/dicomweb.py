"""Query/retrieve over DICOMweb: QIDO-RS to find (PS3.18 §10.6), WADO-RS to fetch a series (§10.4).

Uses the destination's URL, credentials, TLS settings and timeout (the same client as STOW-RS). A WADO-RS
answer (``multipart/related; type="application/dicom"``) is streamed part by part into temporary files in
the target folder (never held in memory), each fsynced and renamed to ``<SOPInstanceUID>.dcm``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydicom.dataset import Dataset

from dicom_node.config import DicomWebDestinationConfig
from dicom_node.dispatch.targets.dicomweb import client
from dicom_node.errors import InvalidDatasetError
from dicom_node.ingest import parse_header_file
from dicom_node.multipart import MultipartError, PartWriter, boundary_of
from dicom_node.query.base import QueryError
from dicom_node.storage import safe_name

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
MAX_INSTANCE_BYTES = 8 * 1024**3
_LITERAL = "*?^-,.:"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DicomWebQueryRetrieve:
    def __init__(self, destination: DicomWebDestinationConfig) -> None:
        self.destination = destination

    # -- QIDO-RS --------------------------------------------------------------------------------
    def _query(self, path: str, filters: Mapping[str, str]) -> list[Dataset]:
        url = f"{self.destination.url}{path}"
        try:
            with client(self.destination) as http:
                response = http.get(url + _query_string(filters), headers={"Accept": DICOM_JSON})
        except httpx.HTTPError as exc:
            raise QueryError(f"QIDO-RS {url} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code == 204 or (response.status_code == 200 and not response.content):
            return []
        if response.status_code != 200:
            raise QueryError(f"QIDO-RS {url} answered HTTP {response.status_code}")
        try:
            items: Any = response.json()
            return [Dataset.from_json(item) for item in items]
        except (ValueError, TypeError, KeyError) as exc:
            raise QueryError(f"QIDO-RS {url}: not a DICOM JSON answer ({exc})") from None

    def find_studies(self, filters: Mapping[str, str]) -> list[Dataset]:
        return self._query("/studies", filters)

    def find_series(self, study_instance_uid: str, filters: Mapping[str, str] | None = None) -> list[Dataset]:
        return self._query(f"/studies/{_uid(study_instance_uid)}/series", filters or {})

    def find_instances(self, study_instance_uid: str, series_instance_uid: str) -> list[Dataset]:
        path = f"/studies/{_uid(study_instance_uid)}/series/{_uid(series_instance_uid)}/instances"
        return self._query(path, {})

    # -- WADO-RS --------------------------------------------------------------------------------
    def retrieve_series(self, study_instance_uid: str, series_instance_uid: str, folder: Path) -> list[Path]:
        url = f"{self.destination.url}/studies/{_uid(study_instance_uid)}/series/{_uid(series_instance_uid)}"
        folder.mkdir(parents=True, exist_ok=True)
        accept = f'multipart/related; type="{DICOM}"; transfer-syntax=*'
        paths: list[Path] = []
        try:
            with (
                client(self.destination) as http,
                http.stream("GET", url, headers={"Accept": accept}) as response,
            ):
                if response.status_code != 200:
                    raise QueryError(f"WADO-RS {url} answered HTTP {response.status_code}")
                media, params = boundary_of(response.headers.get("content-type", ""))
                if media != "multipart/related" or not params.get("boundary"):
                    raise QueryError(f"WADO-RS {url}: not a multipart/related answer ({media})")
                writer = PartWriter(params["boundary"], folder, DICOM, DICOM, MAX_INSTANCE_BYTES, "wado-part")
                try:
                    for chunk in response.iter_bytes():
                        for part in writer.feed(chunk):
                            paths.append(self._keep(part.path, folder, url))
                    writer.close()
                finally:
                    writer.abort()
        except httpx.HTTPError as exc:
            raise QueryError(f"WADO-RS {url} failed: {type(exc).__name__}: {exc}") from None
        except MultipartError as exc:
            raise QueryError(f"WADO-RS {url}: {exc}") from None
        _sync(folder)
        return paths

    @staticmethod
    def _keep(tmp: Path | None, folder: Path, url: str) -> Path:
        if tmp is None:
            raise QueryError(f"WADO-RS {url}: a part is not {DICOM}")
        try:
            header = parse_header_file(tmp)
        except InvalidDatasetError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise QueryError(f"WADO-RS {url}: {exc}") from None
        target = folder / f"{safe_name(header.sop_instance_uid)}.dcm"
        os.replace(tmp, target)
        return target


def _query_string(filters: Mapping[str, str]) -> str:
    """``?key=value&...`` with the matching characters (``* ? ^ - ,``) left as they are: Orthanc's DICOMweb
    plugin (1.7) does not percent-decode query values, so ``QUERY%2A`` would match nothing there."""
    if not filters:
        return ""
    pairs = [f"{quote(key, safe='')}={quote(value, safe=_LITERAL)}" for key, value in filters.items()]
    return "?" + "&".join(pairs)


def _uid(value: str) -> str:
    """A UID for a URL path: digits and dots only (PS3.5 §9.1), anything else refused."""
    if not _UID.match(value):
        raise QueryError(f"not a UID: {value[:70]!r}")
    return value


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
