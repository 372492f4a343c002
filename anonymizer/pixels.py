"""Burned-in PHI: decide whether pixel data may carry text, and which mask template matches a device.

Header rules cannot see text in pixels. An image whose BurnedInAnnotation is YES, or whose modality / SOP
class commonly carries burned-in text (US, SC, XC, OT, documents, photographs), is refused unless the
Clean Pixel Data option is on; then :mod:`anonymizer.pixel_clean` cleans it (OCR and mask templates).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from anonymizer.errors import AnonymizationRefused
from anonymizer.settings import PixelRule

RISKY_MODALITIES = frozenset({"US", "IVUS", "SC", "XC", "OT", "DOC", "ES", "GM", "SM", "OP", "OPT"})
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
PHOTO_MODALITIES = frozenset({"XC", "ES", "GM", "OP"})
HEAD_PARTS = frozenset({"HEAD", "BRAIN", "SKULL", "FACE", "HEADNECK", "NECK"})
_RISKY_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7.",  # multi-frame Secondary Capture (7.1 .. 7.4)
    "1.2.840.10008.5.1.4.1.1.6.",  # Ultrasound Image / Multi-frame
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame
    "1.2.840.10008.5.1.4.1.1.104.",  # Encapsulated PDF / CDA / STL ...
    "1.2.840.10008.5.1.4.1.1.77.1.",  # VL images (endoscopic, photographic, ...)
)


def has_pixels(ds: Dataset) -> bool:
    return any(tag in ds for tag in PIXEL_TAGS)


def is_risky(ds: Dataset) -> bool:
    """True when the modality or SOP class commonly carries burned-in text."""
    modality = str(ds.get("Modality", "")).upper()
    sop_class = str(ds.get("SOPClassUID", ""))
    secondary_capture = sop_class == "1.2.840.10008.5.1.4.1.1.7"
    return modality in RISKY_MODALITIES or secondary_capture or sop_class.startswith(_RISKY_SOP_PREFIXES)


def matching_rule(ds: Dataset, rules: Sequence[PixelRule]) -> PixelRule | None:
    """The first rule whose every selector matches ``ds``."""
    manufacturer = str(ds.get("Manufacturer", "")).strip().lower()
    model = str(ds.get("ManufacturerModelName", "")).strip().lower()
    sop_class = str(ds.get("SOPClassUID", ""))
    rows, columns = ds.get("Rows"), ds.get("Columns")
    for rule in rules:
        if rule.manufacturer is not None and rule.manufacturer.strip().lower() != manufacturer:
            continue
        if rule.model is not None and rule.model.strip().lower() != model:
            continue
        if rule.sop_class_uid is not None and rule.sop_class_uid != sop_class:
            continue
        if rule.rows is not None and rule.rows != rows:
            continue
        if rule.columns is not None and rule.columns != columns:
            continue
        return rule
    return None


def describe(ds: Dataset) -> str:
    """Device and geometry of ``ds`` for a refusal reason (no PHI)."""
    return (
        f"modality={ds.get('Modality', '')!s} sop_class={ds.get('SOPClassUID', '')!s} "
        f"manufacturer={ds.get('Manufacturer', '')!s} model={ds.get('ManufacturerModelName', '')!s} "
        f"size={ds.get('Columns', '?')}x{ds.get('Rows', '?')}"
    )


def check_visual_features(ds: Dataset) -> None:
    """Clean Recognizable Visual Features: refuse faces we cannot deface (photos, head CT/MR/PT)."""
    modality = str(ds.get("Modality", "")).upper()
    part = str(ds.get("BodyPartExamined", "")).upper().replace(" ", "")
    if str(ds.get("RecognizableVisualFeatures", "")).upper() == "YES":
        raise AnonymizationRefused("RecognizableVisualFeatures is YES and defacing is not supported")
    if modality in PHOTO_MODALITIES:
        raise AnonymizationRefused(f"modality {modality} is a photograph that may show a face")
    if modality in {"CT", "MR", "PT"} and part in HEAD_PARTS:
        raise AnonymizationRefused(f"{modality} of {part} may show a face; defacing is not supported")
