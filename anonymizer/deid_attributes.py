"""The attributes that say how an object was de-identified (PS3.15 E.1.1, CID 7050)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from anonymizer.options import BASIC_PROFILE_CODE, CID_7050, Option

METHOD_TEXT = "dicom-node PS3.15 E.1 Basic Profile"


def write_deidentification_attributes(ds: Dataset, options: frozenset[Option]) -> None:
    """Set PatientIdentityRemoved, DeidentificationMethod(+CodeSequence), LongitudinalTemporal...Modified."""
    ds.PatientIdentityRemoved = "YES"
    used = sorted(options, key=lambda o: o.value)
    ds.DeidentificationMethod = [METHOD_TEXT] + [o.value[:64] for o in used]
    items = []
    for value, meaning in [BASIC_PROFILE_CODE] + [CID_7050[o] for o in used if o in CID_7050]:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    if Option.RETAIN_LONGITUDINAL_FULL_DATES in options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    if Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in options and "PixelData" in ds:
        ds.RecognizableVisualFeatures = "NO"
