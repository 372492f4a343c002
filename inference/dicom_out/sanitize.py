"""Clean copies of the source headers before highdicom copies them into our outputs.

highdicom's constructors copy the Patient and Study modules (and, for the SC, a few series attributes)
from the source as they are. Real sources carry values that make the copies invalid: PatientAge ``62``
(AS needs ``062Y``), an empty ProcedureCodeSequence, ``PixelSpacing 0\\0``, dates like ``2020``, Type 2
attributes left out. :func:`clean_sources` returns detached copies (the source datasets are never
changed) in which:

* a Type 2 attribute of the Patient / General Study modules the source lacks is present and empty;
* a value that pydicom's strict validation refuses is repaired when the repair is unambiguous, else
  emptied (Type 2) or left out (Type 3). PatientAge is the one repair: a bare number (``62``) or a
  wrong form is replaced by the age computed from PatientBirthDate and StudyDate when both are valid
  and the computed age in years equals the number (``062Y``); otherwise it is left out (unknown);
* an empty sequence, or a code item without value / scheme / meaning, is left out;
* a zero, negative or unreadable PixelSpacing / ImagerPixelSpacing is left out: spacing unknown
  (areas in pixels), never a zero spacing written anywhere.

Each change is logged once per series as keyword + action, never with the values (they may be PHI).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
from collections.abc import Sequence

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import validate_value

from inference.pipeline import Series

log = logging.getLogger(__name__)

# Patient, General Study and Patient Study attributes highdicom copies into every output (root level).
TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
TYPE3 = (
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientBirthTime",
    "OtherPatientIDsSequence",
    "IssuerOfPatientID",
    "EthnicGroup",
    "PatientComments",
    "StudyDescription",
    "ProcedureCodeSequence",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "IssuerOfAccessionNumberSequence",
    "RequestingService",
    "BodyPartExamined",
    "Laterality",
    "ImageLaterality",
)
SPACINGS = ("PixelSpacing", "ImagerPixelSpacing")
SEXES = ("M", "F", "O")
CLEANED = "_dicom_node_cleaned"  # a Python attribute (not a DICOM element) marking our clean copies
_AGE = re.compile(r"^\d{3}[DWMY]$")
_BARE_NUMBER = re.compile(r"^\s*0*(\d{1,3})\s*[Yy]?\s*$")


def _valid(keyword: str, value: object) -> bool:
    """Whether pydicom's strict validation accepts ``value`` (numbers checked in their string form)."""
    vr = dictionary_VR(keyword)
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    try:
        for item in values:
            text = item if isinstance(item, str | bytes) or vr not in ("DS", "IS") else str(item)
            validate_value(vr, text, config.RAISE)
    except (ValueError, TypeError):
        return False
    return True


def _date(ds: Dataset, keyword: str) -> datetime.date | None:
    value = str(ds.get(keyword, "") or "")
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def repaired_age(ds: Dataset) -> str | None:
    """``nnnY`` when the bare number in PatientAge is the age computed from birth and study dates."""
    match = _BARE_NUMBER.match(str(ds.get("PatientAge", "") or ""))
    born, studied = _date(ds, "PatientBirthDate"), _date(ds, "StudyDate")
    if match is None or born is None or studied is None or studied < born:
        return None
    years = studied.year - born.year - ((studied.month, studied.day) < (born.month, born.day))
    return f"{years:03d}Y" if years == int(match.group(1)) and years < 1000 else None


def _valid_code_item(item: Dataset) -> bool:
    has_value = any(item.get(k) for k in ("CodeValue", "LongCodeValue", "URNCodeValue"))
    return has_value and bool(item.get("CodingSchemeDesignator")) and bool(item.get("CodeMeaning"))


def _spacing_ok(value: object) -> bool:
    try:
        numbers = [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return False
    return len(numbers) == 2 and all(n > 0 for n in numbers)


def detached_copy(ds: Dataset) -> Dataset:
    """A new dataset holding the same elements (pixel data shared, not copied): deleting or setting an
    attribute on it leaves ``ds`` as it was (``copy.copy`` of a pydicom Dataset shares its elements' dict)."""
    clean = Dataset(dict(ds.items()))  # items() gives the stored (possibly raw) elements: nothing decoded
    if hasattr(ds, "file_meta"):
        clean.file_meta = ds.file_meta
    clean.set_original_encoding(ds.is_implicit_VR, ds.is_little_endian, ds.original_character_set)
    return clean


def _clean_one(ds: Dataset, changes: dict[str, str]) -> Dataset:
    if getattr(ds, CLEANED, False):  # already a clean copy (write_outputs cleans once for all writers)
        return ds
    clean = detached_copy(ds)
    setattr(clean, CLEANED, True)
    for keyword in TYPE2:
        if keyword not in clean:
            clean[keyword] = DataElement(keyword, dictionary_VR(keyword), None)
            changes.setdefault(keyword, "absent (Type 2): written empty")
        elif clean[keyword].value not in (None, "") and not _valid(keyword, clean[keyword].value):
            clean[keyword].value = None
            changes.setdefault(keyword, "invalid value: written empty")
    if keyword_value(clean, "PatientSex") not in ("", *SEXES):
        clean.PatientSex = None
        changes.setdefault("PatientSex", "not M/F/O: written empty")
    for keyword in TYPE3:
        if keyword not in clean:
            continue
        value = clean[keyword].value
        if clean[keyword].VR == "SQ":
            items = [i for i in value if keyword.endswith("CodeSequence") is False or _valid_code_item(i)]
            if not items:
                del clean[keyword]
                changes.setdefault(keyword, "empty or invalid sequence: left out")
            elif len(items) != len(value):
                clean[keyword].value = DicomSequence(items)
                changes.setdefault(keyword, "invalid code items: left out")
        elif value in (None, ""):
            del clean[keyword]
            changes.setdefault(keyword, "empty (Type 3): left out")
        elif not _valid(keyword, value) or (keyword == "PatientAge" and not _AGE.match(str(value))):
            age = repaired_age(clean) if keyword == "PatientAge" else None
            if age is not None:
                clean.PatientAge = age
                changes.setdefault(keyword, "bare number: unit added (matches birth and study dates)")
            else:
                del clean[keyword]
                changes.setdefault(keyword, "invalid value: left out (unknown)")
    for keyword in SPACINGS:
        if keyword in clean and not _spacing_ok(clean[keyword].value):
            del clean[keyword]
            changes.setdefault(keyword, "zero, negative or unreadable: left out (spacing unknown)")
    return clean


def keyword_value(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "")


def clean_sources(datasets: Sequence[Dataset]) -> list[Dataset]:
    """Detached, validated copies of ``datasets`` (see the module docstring); logs the changes once."""
    changes: dict[str, str] = {}
    cleaned = [_clean_one(ds, changes) for ds in datasets]
    if changes:
        log.warning(
            "source attributes cleaned for the outputs",
            extra={"changes": "; ".join(f"{k}: {v}" for k, v in sorted(changes.items()))},
        )
    return cleaned


def clean_series(series: Series) -> Series:
    """``series`` with :func:`clean_sources` copies of its datasets (frames, pixels, volume kept)."""
    return dataclasses.replace(series, datasets=clean_sources(series.datasets))
