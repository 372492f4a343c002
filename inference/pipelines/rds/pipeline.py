"""The ``rds`` pipeline: neonatal chest radiograph -> left/right lungs, RDS probability, Grad-CAM.

After the research (seed 003): UNet lung segmentation, median filter, re-prediction of the image turned
by 90/270 degrees when the lungs are under the paper's 10,000 px (scaled to the working
resolution, see :mod:`inference.pipelines.rds.postprocess`), spine band removed, EfficientNet RDS
classifier on the lung-masked image, Grad-CAM heat map. Patient right / left from Patient Orientation
(:mod:`inference.pipelines.rds.orientation`).

The classifier runs only for newborns (:mod:`inference.pipelines.rds.newborn`); anyone else gets the
lungs and the note "RDS not assessed: not a newborn". A demonstration classifier (bundle metadata)
gives no coded finding: its probability is a note labelled demonstration, and the outputs say DEMO.

Outputs: SEG (right and left lung, binary, one frame per lung aligned pixel for pixel with the
radiograph; a CR/DX has no frame of reference, so the SEG has none either: see
:func:`inference.dicom_out.seg.write_seg`), SR (lung area per side in cm2 when the image has a pixel
spacing, else in pixels, the rotation used, each lung referencing its SEG segment; the RDS finding
coded SCT 46775006 only from a site-trained classifier; the notes), SC (lungs, Grad-CAM overlay when
the classifier ran, summary and notes).
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
    Note,
    Pipeline,
    Result,
    Segment,
    Series,
)
from inference.pipelines.rds.images import resize, to_working, upsample
from inference.pipelines.rds.model import torch_threads
from inference.pipelines.rds.newborn import gate_from_params
from inference.pipelines.rds.orientation import display_of
from inference.pipelines.rds.params_model import RdsParams
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG
from inference.pipelines.rds.postprocess import classifier_region
from inference.pipelines.rds.source import DenseBrightSeries, pixel_spacing, read_radiograph

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


def demonstration_note(probability: float) -> str:
    return f"RDS probability from demonstration weights: {probability:.2f} (no diagnosis)"


class RdsPipeline(Pipeline):
    """UNet lungs + EfficientNet RDS classifier from a MONAI bundle.

    Shipped: a lung UNet trained on real radiographs (research use) and a demonstration classifier
    trained on synthetic phantoms, whose probability is reported as a demonstration note, never as a
    coded finding. The classifier runs only for newborns (:mod:`~inference.pipelines.rds.newborn`).
    """

    name = "rds"
    accepts = "neonatal chest radiograph (CR/DX, one image): lungs; RDS probability for newborns only"
    seg_on_projection = True  # the writers put the lungs in a SEG on the radiograph itself

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        from inference.pipelines.rds.bundle_io import classifier_is_demonstration, load_model

        self.settings = dict(settings or {})
        bundle = self.settings.get("bundle")
        self.model, self.metadata = load_model(
            Path(bundle) if bundle else None, str(self.settings.get("device") or "auto")
        )
        params = RdsParams.of(self.settings, self.name)
        self.gate = gate_from_params(params)
        overrides = params.working_overrides()
        if overrides:
            self.model.settings = self.model.settings.with_overrides(overrides)
        self.demonstration = classifier_is_demonstration(self.metadata)

    @property
    def algorithm(self) -> AlgorithmInfo:
        s = self.model.settings
        name = "dicom-node rds DEMONSTRATION WEIGHTS" if self.demonstration else "dicom-node rds"
        classifier = f"efficientnet-{s.variant}" + (" (demonstration)" if self.demonstration else "")
        return AlgorithmInfo(
            name=name,
            version=str(self.metadata.get("version", "unknown")),
            parameters={
                "classifier": classifier,
                "median_kernel": str(s.median_kernel),
                "rotation_fallback": (
                    f"{s.rotate}, trigger {s.rotation_trigger}"
                    f" (< {s.min_area} px at {s.working_size}x{s.working_size}), margin {s.rotation_margin}"
                ),
                "spine_band_fraction": str(s.band_fraction),
                "threshold": str(s.threshold),
                "newborn_max_days": str(self.gate.max_days),
                "missing_age": self.gate.missing,
            },
            demonstration=self.demonstration,
        )

    def read(self, folder: Path) -> Series:
        """The radiograph decoded once into float32 (see :mod:`inference.pipelines.rds.source`)."""
        return read_radiograph(folder)

    def run(self, series: Series) -> Result:
        pixels = radiograph(series)
        ds = series.datasets[series.frames[0].dataset_index]
        settings = self.model.settings
        display = display_of(ds)
        # Only the working-size image (128 x 128 by default) goes through the networks, turned to the
        # standard display (patient right on the image left); the full grid is touched once to
        # normalise and reduce it, and once more for each output map.
        image = display.to_standard(to_working(pixels, settings.working_size))
        refusal = self.gate.refusal(ds)
        notes: list[Note] = []
        findings: list[Finding] = []
        heat_maps: list[HeatMap] = []
        summary: list[str] = []
        with torch_threads(settings.threads):
            segmentation = self.model.segment(image)
            if refusal is None:
                classification = self.model.classify(self.model.classifier_input(image, segmentation))
                # the classifier sees nothing outside its region (zero input): show the heat map inside it
                seen = classifier_region(segmentation.upright, settings.band_fraction)
                heat_working = np.rot90(classification.heat_map * seen, -segmentation.quarter_turns)
                heat = upsample(display.from_standard(heat_working), pixels.shape)
                probability = round(classification.probability, 4)
                if self.demonstration:
                    notes.append(Note(demonstration_note(probability)))
                    heat_maps.append(HeatMap(values=heat[None], name="Grad-CAM (demonstration weights)"))
                else:
                    positive = probability >= settings.threshold
                    findings.append(Finding(RDS, PRESENT if positive else ABSENT, probability=probability))
                    heat_maps.append(HeatMap(values=heat[None], name="Grad-CAM"))
                    summary.append(f"RDS probability {probability:.2f} (threshold {settings.threshold:.2f})")
            else:
                notes.append(Note(refusal))
        labels = resize(display.from_standard(segmentation.labels), pixels.shape, nearest=True)
        spacing = pixel_spacing(ds)
        measurements = self._areas(spacing, labels)
        measurements.append(Measurement(ROTATION, float(segmentation.rotation_degrees), DEGREES))
        summary.append(f"Lung segmentation rotation used: {segmentation.rotation_degrees} deg")
        summary.append(f"Sides from {display.source}")
        if spacing is None:
            summary.append("Lung areas in pixels: the image has no usable pixel spacing")
        if not np.any(labels):
            summary.append("No lung found")
        return Result(
            label_map=LabelMap(labels=labels[None].astype(np.uint8, copy=False), segments=SEGMENTS),
            measurements=measurements,
            findings=findings,
            heat_maps=heat_maps,
            summary=summary,
            parameters={"rotation_degrees": str(segmentation.rotation_degrees)},
            notes=notes,
        )

    def _areas(self, spacing: tuple[float, float] | None, labels: np.ndarray) -> list[Measurement]:
        pixel_mm2 = None if spacing is None else spacing[0] * spacing[1]
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
