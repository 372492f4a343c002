"""PS3.15 Annex E options: names accepted on the command line and in profiles, and their CID 7050 codes."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from anonymizer.errors import AnonymizationError


class Option(StrEnum):
    """One Annex E option (plus ``retain_descriptors``, our keep-as-is variant of Clean Descriptors)."""

    RETAIN_SAFE_PRIVATE = "retain_safe_private"
    RETAIN_UIDS = "retain_uids"
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"
    RETAIN_INSTITUTION_IDENTITY = "retain_institution_identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"
    RETAIN_LONGITUDINAL_FULL_DATES = "retain_longitudinal_full_dates"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain_longitudinal_modified_dates"
    RETAIN_DESCRIPTORS = "retain_descriptors"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean_structured_content"
    CLEAN_GRAPHICS = "clean_graphics"
    CLEAN_PIXEL_DATA = "clean_pixel_data"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "clean_recognizable_visual_features"


# Column of Table E.1-1 that each option reads (None: the option has no column, see E.3.1/E.3.2).
TABLE_COLUMN: dict[Option, str | None] = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.RETAIN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
    Option.CLEAN_PIXEL_DATA: None,
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: None,
}

# CID 7050 "De-identification Method" codes (DCM scheme); retain_descriptors has no standard code.
CID_7050: dict[Option, tuple[str, str]] = {
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: ("113102", "Clean Recognizable Visual Features Option"),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONGITUDINAL_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")

_EXCLUSIVE = (
    (Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES),
    (Option.RETAIN_DESCRIPTORS, Option.CLEAN_DESCRIPTORS),
)


def parse_option(name: str) -> Option:
    """Accept ``retain-uids``, ``retain_uids``, ``Retain UIDs`` and ``Retain UIDs Option``."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = key.removesuffix("_option")
    key = key.replace("longitudinal_temporal_information_", "longitudinal_")
    try:
        return Option(key)
    except ValueError:
        known = ", ".join(o.value for o in Option)
        raise AnonymizationError(f"unknown anonymizer option {name!r} (known: {known})") from None


def parse_options(names: Iterable[str | Option]) -> frozenset[Option]:
    """Parse and check a set of option names; mutually exclusive pairs raise AnonymizationError."""
    options = frozenset(n if isinstance(n, Option) else parse_option(n) for n in names)
    for a, b in _EXCLUSIVE:
        if a in options and b in options:
            raise AnonymizationError(f"options {a.value} and {b.value} exclude each other")
    return options
