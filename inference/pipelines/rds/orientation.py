"""Patient right / left from the radiograph's geometry: bring the image to the display the lung model
knows, and the lungs back to the image as stored.

The lung UNet learned frontal films in the standard display: the patient's right on the image's left
(columns run towards the patient's Left, rows towards the Feet: Patient Orientation ``L\\F``). Patient
Orientation (0020,0020) says where the stored image's rows and columns point; any of the eight
mirrorings / quarter turns of a frontal film (``R\\F`` mirrored, ``R\\H`` turned 180 degrees, ``F\\L``
transposed, ...) is undone before segmentation and applied back to the label map, so label 1 is always
the patient's right lung. Without a usable Patient Orientation the standard display is assumed (and
the rotation fallback of :mod:`~inference.pipelines.rds.postprocess` still catches turned films).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

SIDEWAYS = {"L": "x", "R": "x", "H": "y", "F": "y"}


@dataclass(frozen=True)
class Display:
    """How the stored image maps to the standard display: transpose first, then the flips."""

    transpose: bool = False
    flip_columns: bool = False  # mirror left-right
    flip_rows: bool = False  # upside down
    source: str = "assumed standard display (no Patient Orientation)"

    @property
    def standard(self) -> bool:
        return not (self.transpose or self.flip_columns or self.flip_rows)

    def to_standard(self, image: np.ndarray) -> np.ndarray:
        out = image.T if self.transpose else image
        if self.flip_columns:
            out = out[:, ::-1]
        if self.flip_rows:
            out = out[::-1, :]
        return np.ascontiguousarray(out)

    def from_standard(self, image: np.ndarray) -> np.ndarray:
        out = image[::-1, :] if self.flip_rows else image
        if self.flip_columns:
            out = out[:, ::-1]
        if self.transpose:
            out = out.T
        return np.ascontiguousarray(out)


def _main_direction(value: object) -> str | None:
    """The dominant letter of one Patient Orientation value (``'L'``, ``'FL'`` -> ``'F'``); None if
    it is anterior / posterior (not a frontal film's in-plane direction) or unreadable."""
    text = str(value or "").strip().upper()
    return text[0] if text and text[0] in SIDEWAYS else None


def display_of(ds: Dataset) -> Display:
    """The :class:`Display` of a frontal radiograph from its Patient Orientation."""
    value = ds.get("PatientOrientation")
    if value is None or isinstance(value, str) or len(value) != 2:
        return Display()
    row, column = _main_direction(value[0]), _main_direction(value[1])
    if row is None or column is None or SIDEWAYS[row] == SIDEWAYS[column]:
        return Display()
    text = "\\".join(str(v) for v in value)
    transpose = SIDEWAYS[row] == "y"
    if transpose:
        row, column = column, row
    return Display(
        transpose=transpose,
        flip_columns=row == "R",
        flip_rows=column == "H",
        source=f"Patient Orientation {text}",
    )
