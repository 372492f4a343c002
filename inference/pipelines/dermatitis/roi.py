"""A region of interest drawn on the photograph: from a presentation state (GSPS) or a SEG.

When the photograph arrives with a presentation state whose graphic annotations outline a region on
it (closed POLYLINE / INTERPOLATED, CIRCLE, ELLIPSE), or with a SEG whose frames lie on it, only the
tiles inside that region are graded. Objects are looked for beside the photograph's file (the series
folder the node hands over) and among the study objects of the series' study context
(:meth:`inference.study_context.StudyContext.objects`, ``<job>/context/``), where the node links the
PR / SEG instances of the same study that reference the series: a PACS sends a GSPS drawn on a
photograph as a series of its own. Objects that reference other images are ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from inference.study_context import StudyContext

log = logging.getLogger(__name__)
ROI_MODALITIES = {"PR", "SEG"}


@dataclass(frozen=True)
class Roi:
    mask: np.ndarray  # bool (rows, cols) of the photograph
    source: str  # "GSPS" or "SEG"


def _references(ds: Dataset) -> set[str]:
    """SOP Instance UIDs of the images ``ds`` refers to (series-level references and per frame)."""
    found: set[str] = set()
    for series in ds.get("ReferencedSeriesSequence", []):
        for key in ("ReferencedImageSequence", "ReferencedInstanceSequence"):
            found |= {str(item.ReferencedSOPInstanceUID) for item in series.get(key, [])}
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame.get("DerivationImageSequence", []):
            found |= {str(i.ReferencedSOPInstanceUID) for i in derivation.get("SourceImageSequence", [])}
    found |= {str(item.ReferencedSOPInstanceUID) for item in ds.get("SourceImageSequence", [])}
    return found


def _points(graphic: Dataset, rows: int, cols: int) -> list[tuple[float, float]]:
    data = [float(v) for v in graphic.get("GraphicData", [])]
    pairs = list(zip(data[0::2], data[1::2], strict=False))
    if str(graphic.get("GraphicAnnotationUnits", "PIXEL")) == "DISPLAY":  # fractions of the image
        pairs = [(x * cols, y * rows) for x, y in pairs]
    return pairs


def _draw(draw: ImageDraw.ImageDraw, graphic: Dataset, rows: int, cols: int) -> bool:
    """Fill one closed graphic object; False when it outlines no area."""
    kind = str(graphic.get("GraphicType", ""))
    points = _points(graphic, rows, cols)
    if kind in ("POLYLINE", "INTERPOLATED") and len(points) >= 3:
        draw.polygon(points, fill=255)
        return True
    if kind == "CIRCLE" and len(points) == 2:
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
        return True
    if kind == "ELLIPSE" and len(points) == 4:
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = points
        centre = ((ax + bx) / 2, (ay + by) / 2)
        major, minor = math.hypot(bx - ax, by - ay) / 2, math.hypot(dx - cx, dy - cy) / 2
        angle = math.atan2(by - ay, bx - ax)
        steps = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        outline = [
            (
                centre[0] + major * math.cos(t) * math.cos(angle) - minor * math.sin(t) * math.sin(angle),
                centre[1] + major * math.cos(t) * math.sin(angle) + minor * math.sin(t) * math.cos(angle),
            )
            for t in steps
        ]
        draw.polygon(outline, fill=255)
        return True
    return False


def gsps_mask(ds: Dataset, photo_uid: str, rows: int, cols: int) -> np.ndarray | None:
    """The filled closed graphics of a presentation state on the photograph, or None if there is none."""
    canvas = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(canvas)
    drawn = False
    for annotation in ds.get("GraphicAnnotationSequence", []):
        targets = {str(i.ReferencedSOPInstanceUID) for i in annotation.get("ReferencedImageSequence", [])}
        if targets and photo_uid not in targets:
            continue
        for graphic in annotation.get("GraphicObjectSequence", []):
            drawn = _draw(draw, graphic, rows, cols) or drawn
    if not drawn:
        return None
    mask = np.asarray(canvas) > 0
    return mask if mask.any() else None


def seg_mask(ds: Dataset, rows: int, cols: int) -> np.ndarray | None:
    """The union of all segments of a SEG of the photograph's size, or None."""
    if (int(ds.get("Rows", 0)), int(ds.get("Columns", 0))) != (rows, cols):
        return None
    pixels = np.asarray(ds.pixel_array)
    mask = np.asarray((pixels > 0) if pixels.ndim == 2 else (pixels > 0).any(axis=0))
    return mask if mask.any() else None


def roi_from(objects: Iterable[Dataset], photo: Dataset) -> Roi | None:
    """The ROI on ``photo`` from the first GSPS or SEG among ``objects`` that outlines one on it."""
    uid, rows, cols = str(photo.SOPInstanceUID), int(photo.Rows), int(photo.Columns)
    for ds in objects:
        modality = str(ds.get("Modality", ""))
        if modality not in ROI_MODALITIES or uid not in _references(ds):
            continue
        mask = gsps_mask(ds, uid, rows, cols) if modality == "PR" else seg_mask(ds, rows, cols)
        if mask is not None:
            return Roi(mask=mask, source="GSPS" if modality == "PR" else "SEG")
    return None


def objects_beside(photos: Sequence[Dataset], context: StudyContext | None) -> list[Dataset]:
    """Presentation states and SEGs beside the photographs and among the study context's objects."""
    series_folders = {
        Path(str(ds.filename)).parent for ds in photos if isinstance(getattr(ds, "filename", None), str)
    }
    paths = [p for folder in sorted(series_folders) for p in sorted(folder.rglob("*")) if p.is_file()]
    paths += context.objects() if context is not None else []
    found: list[Dataset] = []
    for path in paths:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError):
            continue
        if str(header.get("Modality", "")) in ROI_MODALITIES:
            found.append(pydicom.dcmread(path) if header.Modality == "SEG" else header)
    if found:
        log.info("region-of-interest objects beside the photograph", extra={"count": len(found)})
    return found
