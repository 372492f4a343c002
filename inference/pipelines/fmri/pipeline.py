"""The ``fmri`` pipeline: resting-state BOLD run -> per-ROI LSTM probabilities and their ensemble.

Steps: assemble the 4D run, check its timing against the model's (the first ``length`` volumes are
used; a run with another TR or fewer volumes is refused, never resampled), rigid motion correction to
the mean (framewise displacement reported over the volumes used), similarity registration of the
mean EPI to MNI152, Power ROI matrices (time x 33 points, z-scored), one LSTM per ensemble ROI,
ensemble weighted by the ROIs' accuracy inside training. Outputs: SEG of the ensemble ROI spheres on
the first volume's source frames (one mosaic for a Siemens mosaic run), SR (one group per ROI plus
the overall research finding, motion and frames used), SC with a bar chart of the probabilities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dicom_node.errors import PipelineError
from inference.pipeline import AlgorithmInfo, Pipeline, Result, Series
from inference.pipelines.fmri.bundle_io import POWER_INPUT, FmriBundleInfo, default_bundle, info_from_metadata
from inference.pipelines.fmri.ensemble import ensemble_probability
from inference.pipelines.fmri.features import sphere_labels
from inference.pipelines.fmri.params_model import FmriParams
from inference.pipelines.fmri.preprocess import preprocess
from inference.pipelines.fmri.report import Analysis, build_result
from inference.pipelines.fmri.series4d import from_series, labels_on_source
from inference.pipelines.fmri.temporal import check, crop

ACCEPTS = "resting-state BOLD EPI (4D MR: classic slices, Siemens mosaic, enhanced multi-frame)"


class FmriPipeline(Pipeline):
    name = "fmri"
    accepts = ACCEPTS

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        from inference.bundle import load_bundle

        self.settings = dict(settings or {})
        params = FmriParams.of(self.settings, self.name)
        self.motion_correction = params.motion_correction
        path = Path(self.settings.get("bundle") or default_bundle())
        self.bundle = load_bundle(path, str(self.settings.get("device") or "auto"))
        self.info: FmriBundleInfo = info_from_metadata(path, self.bundle.metadata)
        if self.info.input_kind != POWER_INPUT:
            raise PipelineError(
                f"fmri: the bundle {path} was trained on {self.info.input_kind}, not on Power-264 ROI "
                "spheres of EPI runs; it cannot read a DICOM series"
            )
        self.ensemble = list(params.ensemble) if params.ensemble else list(self.info.ensemble)
        missing = [r for r in self.ensemble if r not in self.info.stats]
        if missing:
            raise PipelineError(f"fmri: the bundle has no model for ensemble ROIs {missing}")

    @property
    def algorithm(self) -> AlgorithmInfo:
        demo = " DEMONSTRATION WEIGHTS" if self.info.demonstration else ""
        return AlgorithmInfo(
            name=f"dicom-node fmri ROI-LSTM{demo}",
            version=self.info.version,
            parameters={
                "ensemble_power_rois": " ".join(map(str, self.ensemble)),
                "trained_length": str(self.info.timing.length),
                "trained_tr_s": str(self.info.timing.tr_s),
            },
            demonstration=self.info.demonstration,
        )

    def _probabilities(self, matrices: np.ndarray, rois: list[int]) -> dict[int, float]:
        import torch

        from inference.pipelines.fmri.model import RoiLstmBank

        bank = self.bundle.network
        if not isinstance(bank, RoiLstmBank):
            raise PipelineError("fmri: the bundle's network is not a RoiLstmBank")
        out: dict[int, float] = {}
        with torch.inference_mode():
            for i, roi in enumerate(rois):
                x = torch.from_numpy(matrices[i][None]).to(self.bundle.device)
                out[roi] = float(bank.model(roi)(x).cpu()[0])
        return out

    def run(self, series: Series) -> Result:
        run = from_series(series)
        timing = check(run.n_volumes, run.tr_s, self.info.timing)
        used = run if timing.refused else dataclasses.replace(run, array=run.array[..., : timing.used])
        pre = preprocess(used, self.ensemble, self.motion_correction)
        covered = [r for r in self.ensemble if pre.matrices.covered(r)]
        probabilities: dict[int, float] = {}
        if covered and not timing.refused:
            index = [pre.matrices.rois.index(r) for r in covered]
            matrices = crop(pre.matrices.matrices[index], self.info.timing)
            probabilities = self._probabilities(matrices, covered)
        weights = {r: self.info.weight(r) for r in covered}
        labels = None
        if run.volume is not None:
            # on the first time point's images only (for a mosaic run: the first mosaic), so the SEG
            # references one volume and no plane position twice
            volume_labels = sphere_labels(
                run.array.shape[:3], run.affine, pre.normalisation.mni_to_subject, covered
            )
            labels = labels_on_source(series, run.volume, volume_labels)
        analysis = Analysis(
            labels=labels,
            probabilities=probabilities,
            outside=[r for r in self.ensemble if r not in covered],
            overall=ensemble_probability(probabilities, weights),
            time_note=timing.describe(self.info.timing),
            assessed=timing.refused is None,
            normalised=pre.normalisation.reliable,
            n_volumes=run.n_volumes,
            used=used.n_volumes,
            mean_fd=pre.motion.mean_fd,
            max_fd=pre.motion.max_fd,
            class_names=self.info.class_names,
            demonstration=self.info.demonstration,
        )
        parameters = {
            "normalisation": pre.normalisation.method,
            "motion_correction": str(self.motion_correction),
        }
        return build_result(analysis, parameters)


def build(settings: Mapping[str, Any]) -> FmriPipeline:
    return FmriPipeline(settings)
