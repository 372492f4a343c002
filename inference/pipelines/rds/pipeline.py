"""The ``rds`` pipeline: neonatal chest radiograph -> left/right lungs, RDS probability, Grad-CAM.

After the research (seed 003): UNet lung segmentation, median filter, re-prediction of the image turned
by 90/180/270 degrees when the lungs are under the paper's 10,000 px (scaled to the working
resolution, see :mod:`inference.pipelines.rds.postprocess`), spine band removed, EfficientNet RDS
classifier on the lung-masked image, Grad-CAM heat map.

Outputs: SEG (right and left lung, binary, one frame per lung aligned pixel for pixel with the
radiograph; a CR/DX has no frame of reference, so the SEG has none either: see
:func:`inference.dicom_out.seg.write_seg`), SR (RDS probability and finding coded SCT 46775006, lung
area per side in cm2 when the image has a pixel spacing, the rotation used, each lung referencing its
SEG segment), SC (Grad-CAM overlay, lungs, summary).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.coding import Code

from dicom_node.errors import InputError
from inference.pipeline import (
    LATERALITY_LEFT,
    LATERALITY_RIGHT,
    AlgorithmInfo,
    Finding,
    HeatMap,
    LabelMap,
    Measurement,
    Pipeline,
    Result,
    Segment,
    Series,
)
from inference.pipelines.rds.images import resize, to_working, upsample
from inference.pipelines.rds.model import torch_threads
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG
from inference.pipelines.rds.postprocess import classifier_region
from inference.pipelines.rds.source import DenseBrightSeries, read_radiograph

ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
LUNG = Code("39607008", "SCT", "Lung")
RDS = Code("46775006", "SCT", "Respiratory distress syndrome in the newborn")
PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("2667000", "SCT", "Absent")
AREA = Code("42798000", "SCT", "Area")
ROTATION = Code("130523", "DCM", "Rotation Angle")
SQUARE_CM = Code("cm2", "UCUM", "square centimeter")
PIXELS = Code("{pixels}", "UCUM", "pixels")
DEGREES = Code("deg", "UCUM", "degree")
SEGMENTS = (
    Segment(RIGHT_LUNG, "Right lung", ANATOMICAL_STRUCTURE, LUNG, laterality=LATERALITY_RIGHT),
    Segment(LEFT_LUNG, "Left lung", ANATOMICAL_STRUCTURE, LUNG, laterality=LATERALITY_LEFT),
)


def radiograph(series: Series) -> np.ndarray:
    """The one plane of a projection series, dense = bright (MONOCHROME1 inverted when the reader did
    not already do it: the volume loader and :func:`~inference.pipelines.rds.source.read_radiograph`
    do). No copy when the plane is float32 already."""
    if not series.is_2d:
        raise InputError(f"rds needs one radiograph; the series has {len(series.frames)} frames")
    pixels = np.asarray(series.pixels[0], dtype=np.float32)
    ds = series.datasets[series.frames[0].dataset_index]
    inverted = series.volume is not None or isinstance(series, DenseBrightSeries)
    if not inverted and str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = pixels.max() - pixels
    return pixels


def pixel_area_mm2(series: Series) -> float | None:
    if series.spacing_mm is None:
        return None
    rows, cols = series.spacing_mm[1], series.spacing_mm[2]
    return rows * cols if rows > 0 and cols > 0 else None


class RdsPipeline(Pipeline):
    """UNet lungs + EfficientNet RDS classifier from a MONAI bundle (shipped: demonstration weights)."""

    name = "rds"
    accepts = "neonatal chest radiograph (CR/DX, one image): lungs, RDS probability, Grad-CAM"
    seg_on_projection = True  # the writers put the lungs in a SEG on the radiograph itself

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        from inference.pipelines.rds.bundle_io import load_model

        self.settings = dict(settings or {})
        bundle = self.settings.get("bundle")
        self.model, self.metadata = load_model(
            Path(bundle) if bundle else None, str(self.settings.get("device") or "auto")
        )
        params = self.settings.get("params") or {}
        if params:
            self.model.settings = self.model.settings.with_overrides(dict(params))
        self.demonstration = bool(self.metadata.get("demonstration", False))

    @property
    def algorithm(self) -> AlgorithmInfo:
        s = self.model.settings
        name = "dicom-node rds DEMONSTRATION WEIGHTS" if self.demonstration else "dicom-node rds"
        return AlgorithmInfo(
            name=name,
            version=str(self.metadata.get("version", "unknown")),
            parameters={
                "classifier": f"efficientnet-{s.variant}",
                "median_kernel": str(s.median_kernel),
                "rotation_fallback": (
                    f"{s.rotate}, trigger {s.rotation_trigger}"
                    f" (< {s.min_area} px at {s.working_size}x{s.working_size})"
                ),
                "spine_band_fraction": str(s.band_fraction),
                "threshold": str(s.threshold),
            },
        )

    def read(self, folder: Path) -> Series:
        """The radiograph decoded once into float32 (see :mod:`inference.pipelines.rds.source`)."""
        return read_radiograph(folder)

    def run(self, series: Series) -> Result:
        pixels = radiograph(series)
        settings = self.model.settings
        # Only the working-size image (128 x 128 by default) goes through the networks; the full
        # grid is touched once to normalise and reduce it, and once more for each output map.
        image = to_working(pixels, settings.working_size)
        with torch_threads(settings.threads):
            segmentation = self.model.segment(image)
            classification = self.model.classify(self.model.classifier_input(image, segmentation))
            # the classifier sees nothing outside its region (zero input there): show the heat map inside it
            seen = classifier_region(segmentation.upright, settings.band_fraction)
            heat_working = np.rot90(classification.heat_map * seen, -segmentation.quarter_turns)
            heat = upsample(heat_working, pixels.shape)
        labels = resize(segmentation.labels, pixels.shape, nearest=True)
        probability = round(classification.probability, 4)
        positive = probability >= self.model.settings.threshold
        measurements = self._areas(series, labels)
        measurements.append(Measurement(ROTATION, float(segmentation.rotation_degrees), DEGREES))
        summary = [
            f"RDS probability {probability:.2f} (threshold {self.model.settings.threshold:.2f})",
            f"Lung segmentation rotation used: {segmentation.rotation_degrees} deg",
        ]
        if self.demonstration:
            summary.insert(0, "DEMONSTRATION WEIGHTS (synthetic training data) - not for diagnosis")
        if not np.any(labels):
            summary.append("No lung found: the classifier saw an empty image")
        return Result(
            label_map=LabelMap(labels=labels[None].astype(np.uint8, copy=False), segments=SEGMENTS),
            measurements=measurements,
            findings=[Finding(RDS, PRESENT if positive else ABSENT, probability=probability)],
            heat_maps=[HeatMap(values=heat[None], name="Grad-CAM")],
            summary=summary,
            parameters={"rotation_degrees": str(segmentation.rotation_degrees)},
        )

    def _areas(self, series: Series, labels: np.ndarray) -> list[Measurement]:
        pixel_mm2 = pixel_area_mm2(series)
        areas = []
        for segment in SEGMENTS:
            count = int(np.count_nonzero(labels == segment.label))
            if pixel_mm2 is None:
                areas.append(Measurement(AREA, float(count), PIXELS, region=segment.label))
            else:
                areas.append(
                    Measurement(AREA, round(count * pixel_mm2 / 100.0, 3), SQUARE_CM, region=segment.label)
                )
        return areas


def build(settings: Mapping[str, Any]) -> RdsPipeline:
    return RdsPipeline(settings)
