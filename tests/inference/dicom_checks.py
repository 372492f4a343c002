"""Checks shared by the writer / pipeline tests: write, read back from bytes, validate with dciodvfy."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from tests.support.dicom3tools import dciodvfy

# dciodvfy warnings we accept, and why; a new one fails the tests until it is understood and listed here.
# - our private coding scheme (PS3.3 8.2) is not in dciodvfy's list of designators; every output that
#   uses it identifies it in the Coding Scheme Identification Sequence.
ACCEPTED_WARNINGS: tuple[str, ...] = ("Unrecognized defined term <99DCMNODE>",)


def roundtrip(ds: Dataset) -> Dataset:
    """Encode ``ds`` as a Part 10 file in memory and parse the bytes again."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def assert_valid(ds: Dataset, folder: Path) -> list[str]:
    """Write ``ds`` under ``folder``, run dciodvfy; assert no error; return the unexpected warnings."""
    path = folder / f"{ds.Modality}-{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    verdict = dciodvfy(path)
    assert verdict.errors == [], "\n".join(verdict.errors)
    return [w for w in verdict.warnings if not any(a in w for a in ACCEPTED_WARNINGS)]


def sr_text_values(ds: Dataset) -> list[str]:
    """Every TEXT value in an SR content tree (depth first)."""
    values: list[str] = []
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "TEXT":
            values.append(str(item.TextValue))
        values += sr_text_values(item)
    return values


def sr_items(ds: Dataset, value_type: str) -> list[Dataset]:
    """Every content item of ``value_type`` (e.g. "NUM", "SCOORD") in an SR content tree."""
    found: list[Dataset] = []
    for item in ds.get("ContentSequence", []):
        if item.ValueType == value_type:
            found.append(item)
        found += sr_items(item, value_type)
    return found
