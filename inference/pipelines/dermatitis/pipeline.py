"""The ``dermatitis`` pipeline: severity 0-3 of erythema, excoriation and lichenification on photographs.

Each photograph of the series is read in colour (:mod:`.photo`), covered by a grid of tiles
(:mod:`.tiling`), and every tile inside the region (skin, or a GSPS / SEG region drawn on the photo,
:mod:`.roi`) is graded by the three-headed ResNet of the bundle. A GSPS / SEG is taken from the series
folder or from the series' study context (:attr:`inference.pipeline.Series.context`, ``<job>/context/``,
filled by the node with the study's PR / SEG instances that reference this series).
Per sign the report gives the worst tile's severity (coded, with its probability) and the
area-weighted severity; plus the sum of the three worst severities. With demonstration weights (the
shipped bundle, trained on synthetic textures) these grades are notes (text) only, never coded findings
or severity scores; the number of graded tiles stays a measurement. Outputs: SR (TID 1500) and SC
(the photograph with the graded tiles).

Privacy: photographs show faces and tattoos. The photograph's pixels leave this pipeline only in the
SC, which the node sends back to the PACS the photograph came from; the SR carries no pixels, and
nothing is logged about the image content or the patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dicom_node.errors import PipelineError
from inference.pipeline import AlgorithmInfo, Finding, Measurement, Note, Pipeline, Result, Series
from inference.pipelines.dermatitis import keyimage, photo, roi, tiling
from inference.pipelines.dermatitis.params_model import DermatitisParams
from inference.pipelines.dermatitis.signs import COUNT, GRADED_TILES, SCORE, SEVERITY, SIGN_SUM, SIGNS
from inference.series_reader import read_headers

DEFAULT_BUNDLE = Path(__file__).parent / "bundle"
# Photographs are decoded at no more than about this size on the long side (the SC shows at most 1600 px).
DECODE_MAX_SIDE = 1600
DEMONSTRATION_CAVEAT = "demonstration weights, not a clinical grading"
ACCEPTS = "skin photographs (VL Photographic / Secondary Capture, modality XC/OT/SC; RGB or YBR, JPEG)"


@dataclass(frozen=True)
class Graded:
    """One photograph: its RGB pixels, grid, tile probabilities (rows, cols, 3, 4) and tile areas."""

    rgb: np.ndarray
    grid: tiling.Grid
    probabilities: np.ndarray
    weights: np.ndarray
    roi: roi.Roi | None


class DermatitisPipeline(Pipeline):
    name = "dermatitis"
    accepts = ACCEPTS

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        from inference.bundle import Expectation, load_bundle

        settings = dict(settings or {})
        params = DermatitisParams.of(settings, self.name)
        path = Path(settings.get("bundle") or DEFAULT_BUNDLE)
        expect = Expectation(input_channels=3, spatial_dims=2)
        self.bundle = load_bundle(path, device=str(settings.get("device") or "auto"), expect=expect)
        meta: dict[str, Any] = dict(self.bundle.metadata.get("dermatitis") or {})
        self.patch = int(meta.get("patch_size", 64))
        tiles, coverage = params.tiles_short_side, params.min_coverage
        self.tiles_short_side = int(tiles if tiles is not None else meta.get("tiles_short_side", 6))
        self.min_coverage = float(coverage if coverage is not None else meta.get("min_coverage", 0.5))
        self.use_roi = params.roi
        self.demonstration = bool(meta.get("demonstration", False))
        self.architecture = str(meta.get("architecture", "ResNet"))

    @property
    def algorithm(self) -> AlgorithmInfo:
        name = "dicom-node dermatitis" + (" (DEMONSTRATION weights)" if self.demonstration else "")
        parameters = {
            "network": self.architecture,
            "tiles_short_side": str(self.tiles_short_side),
            "min_coverage": str(self.min_coverage),
        }
        if self.demonstration:
            parameters["weights"] = "demonstration, synthetic skin textures, not clinical"
        return AlgorithmInfo(
            name=name, version=self.bundle.version, parameters=parameters, demonstration=self.demonstration
        )

    def _probabilities(self, crops: np.ndarray) -> np.ndarray:
        import torch

        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
        logits = self.bundle.predict(batch)
        if logits.ndim != 3 or tuple(logits.shape[1:]) != (len(SIGNS), len(SEVERITY)):
            raise PipelineError(f"the bundle's network gives shape {tuple(logits.shape)}, expected (N, 3, 4)")
        return np.asarray(torch.softmax(logits.float(), dim=-1).numpy())

    def grade(self, ds: Any, objects: list[Any]) -> Graded:
        """Grade one photograph dataset; ``objects`` may hold a GSPS / SEG outlining a region on it."""
        rgb = photo.photograph_rgb(ds, max_side=DECODE_MAX_SIDE)
        grid = tiling.grid_for(rgb.shape[0], rgb.shape[1], self.tiles_short_side)
        reduced = tiling.reduce(rgb, grid, self.patch, Image.Resampling.BILINEAR)
        region = roi.roi_from(objects, ds) if self.use_roi and objects else None
        if region is not None:
            outline = Image.fromarray(region.mask.astype(np.uint8) * 255)
            if outline.size != (rgb.shape[1], rgb.shape[0]):  # the photo was decoded at reduced size
                outline = outline.resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.NEAREST)
                region = roi.Roi(np.asarray(outline) >= 128, region.source)
            mask = tiling.reduce(np.asarray(outline), grid, self.patch, Image.Resampling.BILINEAR)
            inside = mask >= 128
        else:
            inside = photo.skin_mask(reduced)
        fraction = tiling.coverage(inside, grid, self.patch)
        weights = np.where(fraction >= self.min_coverage, fraction, 0.0)
        probabilities = np.zeros((grid.rows, grid.cols, len(SIGNS), len(SEVERITY)), dtype=np.float32)
        chosen = weights.reshape(-1) > 0
        if chosen.any():
            crops = tiling.tiles(reduced, grid, self.patch)[chosen]
            probabilities.reshape(-1, len(SIGNS), len(SEVERITY))[chosen] = self._probabilities(crops)
        return Graded(rgb, grid, probabilities, weights, region)

    def read(self, folder: Path) -> Series:
        """Headers only: each photograph is decoded once, in colour and at working size, by :meth:`grade`."""
        return read_headers(folder)

    def run(self, series: Series) -> Result:
        photos = [series.datasets[i] for i in sorted({f.dataset_index for f in series.frames})]
        objects = roi.objects_beside(photos, series.context) if self.use_roi else []
        graded = [self.grade(ds, objects) for ds in photos]
        probabilities = np.concatenate(
            [g.probabilities.reshape(-1, len(SIGNS), len(SEVERITY)) for g in graded]
        )
        weights = np.concatenate([g.weights.reshape(-1) for g in graded])
        grades = tiling.aggregate(probabilities[:, None], weights[:, None])
        tiles_graded = int((weights > 0).sum())
        shown = self._shown(graded, grades)
        lines = self._table(graded, grades, tiles_graded)
        findings: list[Finding] = []
        measurements: list[Measurement] = []
        notes: list[Note] = []
        if tiles_graded and self.demonstration:
            notes = demonstration_notes(grades)
        elif tiles_graded:
            for sign, grade in zip(SIGNS, grades, strict=True):
                findings.append(
                    Finding(sign.code, SEVERITY[grade.worst], probability=round(grade.probability, 4))
                )
                measurements.append(Measurement(sign.area_code, round(grade.area_weighted, 3), SCORE))
            measurements.append(Measurement(SIGN_SUM, float(sum(g.worst for g in grades)), SCORE))
        measurements.append(Measurement(GRADED_TILES, float(tiles_graded), COUNT))
        picture = keyimage.render(
            shown.rgb,
            shown.grid,
            shown.probabilities.argmax(axis=-1),
            shown.weights > 0,
            roi=shown.roi.mask if shown.roi is not None else None,
        )
        return Result(
            findings=findings,
            measurements=measurements,
            summary=lines,
            parameters=dict(self.algorithm.parameters),
            key_image=picture,
            notes=notes,
        )

    @staticmethod
    def _shown(graded: list[Graded], grades: list[tiling.SignGrade]) -> Graded:
        """The photograph holding the worst tile of the most severe sign (the first one if none)."""
        worst = max(grades, key=lambda g: (g.worst, g.probability))
        if worst.worst_tile is None:
            return graded[0]
        index, offset = worst.worst_tile[0], 0
        for item in graded:
            count = item.grid.rows * item.grid.cols
            if index < offset + count:
                return item
            offset += count
        return graded[0]

    def _table(self, graded: list[Graded], grades: list[tiling.SignGrade], tiles_graded: int) -> list[str]:
        total = sum(g.grid.rows * g.grid.cols for g in graded)
        regions = sorted({g.roi.source for g in graded if g.roi is not None}) or ["skin colour"]
        lines = []
        if self.demonstration:
            lines.append("DEMONSTRATION weights (synthetic skin textures): grades are not clinical")
        region = ", ".join(regions)
        lines.append(
            f"{len(graded)} photograph(s), {tiles_graded} of {total} tiles graded (region: {region})"
        )
        if not tiles_graded:
            return [*lines, "No tile inside the region: nothing graded"]
        lines.append("Sign: worst severity (p) | area-weighted severity")
        for sign, grade in zip(SIGNS, grades, strict=True):
            lines.append(
                f"  {sign.title}: {grade.worst} {SEVERITY[grade.worst].meaning} ({grade.probability:.2f})"
                f" | {grade.area_weighted:.2f}"
            )
        lines.append(f"Sum of the three signs (worst): {sum(g.worst for g in grades)} / 9")
        return lines


def demonstration_notes(grades: list[tiling.SignGrade]) -> list[Note]:
    """The grades of demonstration weights as text, one note per sign and one for the sum: never coded
    severities, nor severity scores as measurements (a grade is a diagnosis, docs/outputs.md)."""
    notes = [
        Note(
            f"{sign.key}: {SEVERITY[grade.worst].meaning.lower()} (p {grade.probability:.2f}), area-weighted"
            f" {grade.area_weighted:.2f}, {DEMONSTRATION_CAVEAT}"
        )
        for sign, grade in zip(SIGNS, grades, strict=True)
    ]
    total = sum(g.worst for g in grades)
    notes.append(Note(f"sum of the three signs (worst): {total} / 9, {DEMONSTRATION_CAVEAT}"))
    return notes


def build(settings: Mapping[str, Any]) -> DermatitisPipeline:
    return DermatitisPipeline(settings)
