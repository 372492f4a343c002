"""Philips MR scaling: the precise floating-point values (what dcm2niix writes) or the display values.

Philips stores two scalings. Rescale Slope / Intercept (RS, RI) give *display* values,
``DV = SV * RS + RI`` for a stored value SV. The private scale slope SS, (2005,100E) of the
"Philips MR Imaging DD 001" block, gives the *precise floating-point* values the scanner computed,
``FP = DV / (RS * SS)`` (Chenevert et al., Tomography 2016; the default of dcm2niix, which records
``UsePhilipsFloatNotDisplayScaling: 1``). Within one series the two differ by a constant factor,
``RS * SS``, per frame.

:data:`PRECISE` (the default of :func:`inference.volume.load_series`) rewrites a Philips plane's
slope and intercept so that the voxels are FP values: slope ``1 / SS``, intercept ``RI / (RS * SS)``.
Classic images carry SS at the top level; enhanced multi-frame images per frame, inside the private
sequence (2005,140F) of "Philips MR Imaging DD 005" (else at the top level). A plane without SS
(or with SS or RS zero) keeps its display values. :data:`DISPLAY` keeps Rescale Slope / Intercept.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pydicom.dataset import Dataset

from inference.volume.planes import Plane

PRECISE = "precise"
DISPLAY = "display"
SCALINGS = (PRECISE, DISPLAY)
CREATOR_SCALE = "Philips MR Imaging DD 001"
CREATOR_FRAME = "Philips MR Imaging DD 005"
SCALE_SLOPE = 0x0E  # (2005,xx0E) in the DD 001 block
FRAME_SEQUENCE = 0x0F  # (2005,xx0F) in the DD 005 block


def is_philips(ds: Dataset) -> bool:
    return "PHILIPS" in str(ds.get("Manufacturer", "")).upper()


def _number(value: object) -> float | None:
    if isinstance(value, bytes | bytearray):  # an implicit-VR or UN element: a little-endian FL
        return float(struct.unpack("<f", bytes(value[:4]))[0]) if len(value) >= 4 else None
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _private(ds: Dataset, creator: str, offset: int, fallback: int) -> object:
    """The value of a private element by creator and offset, else at its usual tag, else None."""
    try:
        return ds.private_block(0x2005, creator)[offset].value
    except KeyError:
        element = ds.get(fallback)
        return None if element is None else element.value


def scale_slope(ds: Dataset) -> float | None:
    """(2005,100E) of a dataset or a sequence item, None when absent."""
    return _number(_private(ds, CREATOR_SCALE, SCALE_SLOPE, 0x2005100E))


def frame_scale_slope(frame: Dataset) -> float | None:
    """The scale slope of one enhanced frame (its per-frame functional groups item)."""
    items = _private(frame, CREATOR_FRAME, FRAME_SEQUENCE, 0x2005140F)
    if isinstance(items, Sequence) and len(items) and isinstance(items[0], Dataset):
        return scale_slope(items[0])
    return None


def to_precise(plane: Plane, ss: float | None) -> None:
    """Set ``plane``'s slope / intercept to give FP values (unchanged without a usable SS)."""
    if ss is None or ss == 0 or plane.slope == 0:
        return
    plane.intercept = plane.intercept / (plane.slope * ss)
    plane.slope = 1.0 / ss


def apply(planes: list[Plane], ds: Dataset, scaling: str = PRECISE) -> list[Plane]:
    """The planes of one file with the requested Philips scaling (non-Philips files: unchanged)."""
    if scaling not in SCALINGS:
        raise ValueError(f"Philips scaling {scaling!r}: expected one of {', '.join(SCALINGS)}")
    if scaling == DISPLAY or not is_philips(ds):
        return planes
    top = scale_slope(ds)
    frames = ds.get("PerFrameFunctionalGroupsSequence")
    for plane in planes:
        ss = None
        if frames is not None and plane.ref.frame_number:
            ss = frame_scale_slope(frames[plane.ref.frame_number - 1])
        to_precise(plane, ss if ss is not None else top)
    return planes
