"""What a T1 series was acquired with, read from its headers (to judge whether two time points compare).

Classic MR images carry the parameters at the top level; enhanced multi-frame MR (Siemens XA, Philips
5.x) carries them in the functional groups (TR and flip angle in the shared MR Timing and Related
Parameters, TE as Effective Echo Time per frame, TI as Inversion Times, the sequence as Pulse Sequence
Name). :func:`describe` looks at the top level, then the shared functional groups, then the first
frame's, one sequence level deep. The voxel size is the reader's (the spacing the volume was built
with), sorted so that a sagittal and an axial acquisition of the same voxels compare equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


@dataclass(frozen=True)
class Acquisition:
    """The acquisition descriptors of one series (None / "" where the headers do not say)."""

    manufacturer: str = ""
    model: str = ""
    field_strength_t: float | None = None
    series_description: str = ""
    sequence_name: str = ""
    scanning_sequence: str = ""
    acquisition_type: str = ""  # MRAcquisitionType: 2D / 3D
    voxel_mm: tuple[float, ...] = ()  # sorted, smallest first
    repetition_ms: float | None = None
    echo_ms: float | None = None
    inversion_ms: float | None = None
    flip_deg: float | None = None
    software: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["voxel_mm"] = list(self.voxel_mm)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Acquisition:
        fields = dict(data)
        fields["voxel_mm"] = tuple(float(v) for v in fields.get("voxel_mm") or ())
        return cls(**fields)


def _places(ds: Dataset) -> Iterator[Dataset]:
    """The dataset, then the items of its shared and first per-frame functional groups (and one level in)."""
    yield ds
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = ds.get(keyword) or []
        if not groups:
            continue
        group = groups[0]
        yield group
        for element in group:
            if element.VR == "SQ":
                yield from element.value[:1]


def _first(ds: Dataset, *keywords: str) -> Any:
    for place in _places(ds):
        for keyword in keywords:
            value = place.get(keyword)
            if value is not None and value != "":
                return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | MultiValue):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: unknown


def describe(ds: Dataset, spacing_mm: tuple[float, float, float] | None) -> Acquisition:
    """The descriptors of the series whose first dataset is ``ds`` (``spacing_mm`` from the reader)."""
    voxel = tuple(sorted(round(float(s), 3) for s in spacing_mm)) if spacing_mm else ()
    return Acquisition(
        manufacturer=_text(_first(ds, "Manufacturer")),
        model=_text(_first(ds, "ManufacturerModelName")),
        field_strength_t=_number(_first(ds, "MagneticFieldStrength")),
        series_description=_text(_first(ds, "SeriesDescription")),
        sequence_name=_text(_first(ds, "SequenceName", "PulseSequenceName")),
        scanning_sequence=_text(_first(ds, "ScanningSequence", "EchoPulseSequence")),
        acquisition_type=_text(_first(ds, "MRAcquisitionType")),
        voxel_mm=voxel,
        repetition_ms=_number(_first(ds, "RepetitionTime")),
        echo_ms=_number(_first(ds, "EchoTime", "EffectiveEchoTime")),
        inversion_ms=_number(_first(ds, "InversionTime", "InversionTimes")),
        flip_deg=_number(_first(ds, "FlipAngle")),
        software=_text(_first(ds, "SoftwareVersions")),
    )
