"""Residual-PHI check of anonymised output: ``dicom-node anonymize --check DIR [--source DIR]``.

Without a source: every attribute the profile removes must be absent, every attribute it empties must be
empty (pseudonymised PatientName/ID/Accession excepted), every replaced UID must be a ``2.25.`` UID, private
attributes must be gone (unless Retain Safe Private), PatientIdentityRemoved must be YES.
With a source: no identifying value of any source file (names, IDs, birth date, institution, station,
instance UIDs) may appear in any element of any output file, private and nested included.
Findings name file, tag path and rule, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from anonymizer.dummies import identity_tokens
from anonymizer.engine import ACCESSION, IDENTITY_KEYWORDS, PATIENT_ID, PATIENT_NAME
from anonymizer.table import Action, ActionTable

_PSEUDONYMS = (PATIENT_NAME, PATIENT_ID, ACCESSION)


@dataclass(frozen=True)
class Finding:
    """One residual: where (file, tag path) and which rule; no PHI."""

    path: str
    tag: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.tag}: {self.rule}"


class SourceIdentity:
    """Identifying values gathered from source files, searched for in output elements."""

    def __init__(self, tokens: list[str], uids: set[str]):
        self.uids = uids
        self._text = _pattern(tokens, r"A-Za-z0-9")
        self._uid_text = _pattern(sorted(uids, key=len, reverse=True), r"0-9.")

    @classmethod
    def from_files(cls, paths: Iterable[Path], table: ActionTable) -> SourceIdentity:
        values: list[object] = []
        uids: set[str] = set()
        for path in paths:
            ds = read_dicom(path)
            if ds is None:
                continue
            for keyword in IDENTITY_KEYWORDS:
                elem = ds.data_element(keyword) if keyword in ds else None
                if elem is not None and table.action_for(elem.tag) not in (Action.KEEP, None):
                    values.append(elem.value)
            for _, item in _elements(ds, ""):
                action = table.action_for(item.tag)
                if item.VR == "UI" and action is Action.UID and not item.is_empty:
                    uids.update(str(v) for v in (item.value if item.VM > 1 else [item.value]))
        return cls(identity_tokens(values), uids)

    def found(self, text: str) -> bool:
        return any(p is not None and p.search(text) is not None for p in (self._text, self._uid_text))


def _pattern(tokens: list[str], boundary: str) -> re.Pattern[str] | None:
    if not tokens:
        return None
    body = "|".join(re.escape(t) for t in tokens)
    return re.compile(rf"(?<![{boundary}])(?:{body})(?![{boundary}])", re.IGNORECASE)


def read_dicom(path: Path) -> Dataset | None:
    """Read a DICOM file (with or without preamble); None when it is not DICOM."""
    try:
        ds = dcmread(path)
    except InvalidDicomError:
        try:
            ds = dcmread(path, force=True)
        except Exception:
            return None
    except Exception:
        return None
    return ds if "SOPClassUID" in ds else None


def _elements(ds: Dataset, prefix: str) -> Iterator[tuple[str, DataElement]]:
    for elem in ds:
        path = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        yield path, elem
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or ()):
                yield from _elements(item, f"{path}[{index}]/")


def _text_of(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def check_dataset(ds: Dataset, table: ActionTable, name: str, source: SourceIdentity | None) -> list[Finding]:
    """All residual-PHI findings of one output dataset."""
    findings: list[Finding] = []
    if str(ds.get("PatientIdentityRemoved", "")) != "YES":
        findings.append(Finding(name, "(0012,0062)", "PatientIdentityRemoved is not YES"))
    for path, elem in _elements(ds, ""):
        tag = int(elem.tag)
        vr = elem.VR
        action = table.action_for(tag)
        empty = elem.is_empty
        if action is Action.REMOVE and not (0x6000 <= tag >> 16 <= 0x60FF and empty):
            findings.append(Finding(name, path, "present although the profile removes it"))
        elif action is Action.EMPTY and not empty and tag not in _PSEUDONYMS and vr != "SQ":
            findings.append(Finding(name, path, "not empty although the profile empties it"))
        elif action is Action.UID and vr == "UI" and not empty:
            values = [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
            if any(not v.startswith("2.25.") for v in values):
                findings.append(Finding(name, path, "UID not replaced"))
        if source is not None and vr != "SQ" and not empty:
            if vr in ("OB", "OW", "OF", "OD", "OL", "OV") and tag >> 16 == 0x7FE0:
                continue  # pixel data
            if source.found(_text_of(elem.value)):
                findings.append(Finding(name, path, "holds an identifying value of the source"))
    return findings


def check_tree(output: Path, table: ActionTable, source: SourceIdentity | None) -> tuple[int, list[Finding]]:
    """Check every DICOM file under ``output``; returns (files checked, findings)."""
    files = 0
    findings: list[Finding] = []
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        ds = read_dicom(path)
        if ds is None:
            continue
        files += 1
        findings.extend(check_dataset(ds, table, str(path.relative_to(output)), source))
    return files, findings
