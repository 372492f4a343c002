"""The fmri bundle: a MONAI bundle whose network is a RoiLstmBank, plus the ROI table in metadata.

``configs/metadata.json`` carries, under ``fmri``: the trained timing (length, TR), the number of
sample points per ROI, the per-ROI test statistics (loss, accuracy, bootstrap p, significant), the
significant set, the ensemble, the ensemble weights (each ROI's accuracy inside the training split),
the kind of input (``power264_spheres``, or ``roi_timeseries:<atlas>`` for a time-series bundle the
DICOM pipeline refuses) and whether the weights are demonstration weights.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.bundle import BundleCard, read_metadata, write_bundle
from inference.pipelines.fmri.temporal import Timing
from inference.pipelines.fmri.training import RoiStats

MODEL_TARGET = "inference.pipelines.fmri.model.RoiLstmBank"
POWER_INPUT = "power264_spheres"
DEMO_NOTE = "DEMONSTRATION WEIGHTS trained on synthetic data - not a clinical or research model"
LICENCE = "Weights trained by `dicom-node train fmri`; released under the dicom-node project licence."


@dataclass(frozen=True)
class FmriBundleInfo:
    version: str
    timing: Timing
    n_points: int
    stats: dict[int, RoiStats]
    significant: list[int]
    ensemble: list[int]
    demonstration: bool
    class_names: tuple[str, str]
    weights: dict[int, float] = field(default_factory=dict)  # ensemble weight per ROI
    input_kind: str = POWER_INPUT

    def weight(self, roi: int) -> float:
        return self.weights.get(roi, self.stats[roi].accuracy)

    @property
    def stored(self) -> list[int]:
        return sorted(self.stats)


def default_bundle() -> Path:
    with resources.as_file(resources.files("inference.pipelines.fmri").joinpath("bundle")) as path:
        return Path(path)


def info_from_metadata(path: Path, metadata: dict[str, Any]) -> FmriBundleInfo:
    try:
        block = metadata["fmri"]
        stats = {int(k): RoiStats(**v) for k, v in block["rois"].items()}
        info = FmriBundleInfo(
            version=str(metadata["version"]),
            timing=Timing(int(block["timing"]["length"]), float(block["timing"]["tr_s"])),
            n_points=int(block["n_points"]),
            stats=stats,
            significant=[int(r) for r in block["significant"]],
            ensemble=[int(r) for r in block["ensemble"]],
            demonstration=bool(block.get("demonstration", False)),
            class_names=(str(block["class_names"][0]), str(block["class_names"][1])),
            weights={int(k): float(v) for k, v in (block.get("ensemble_weights") or {}).items()},
            input_kind=str(block.get("input", POWER_INPUT)),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: metadata.json has no valid 'fmri' block: {exc}") from exc
    missing = [r for r in info.ensemble if r not in stats]
    if missing:
        raise InputError(f"{path}: ensemble ROIs without a model: {missing}")
    return info


def read_info(path: Path) -> FmriBundleInfo:
    return info_from_metadata(path, read_metadata(path))


def write_fmri_bundle(
    out: Path,
    state: dict[str, Any],
    info: FmriBundleInfo,
    hidden: int,
    description: str,
    data_source: str,
    data_licence: str | None = None,
) -> Path:
    """Write the fmri bundle with :func:`inference.bundle.write_bundle`."""
    name = "fmri Power-264 ROI LSTM" + (" (DEMONSTRATION WEIGHTS)" if info.demonstration else "")
    rois = len(info.stats)
    card = BundleCard(
        name=name,
        version=info.version,
        task="binary classification of resting-state fMRI per Power ROI",
        description=(DEMO_NOTE + ". " if info.demonstration else "") + description,
        changelog={info.version: f"trained with dicom-node train fmri on {datetime.date.today()}"},
        inputs={
            "roi_matrices": {
                "type": "tensor",
                "format": "magnitude",
                "num_channels": rois,
                "spatial_shape": [info.timing.length, info.n_points],
                "dtype": "float32",
                "value_range": [],
                "normalisation": "z-score",
            }
        },
        outputs={
            "probabilities": {
                "type": "probabilities",
                "format": "classes",
                "num_channels": rois,
                "spatial_shape": [1],
                "dtype": "float32",
                "value_range": [0, 1],
            }
        },
        licence=LICENCE,
        data_source=data_source,
        data_licence=data_licence,
        copyright="dicom-node",
        blocks={
            "fmri": {
                "timing": {"length": info.timing.length, "tr_s": info.timing.tr_s},
                "n_points": info.n_points,
                "rois": {str(r): s.to_json() for r, s in sorted(info.stats.items())},
                "significant": info.significant,
                "ensemble": info.ensemble,
                "demonstration": info.demonstration,
                "class_names": list(info.class_names),
                "ensemble_weights": {str(r): w for r, w in sorted(info.weights.items())},
                "input": info.input_kind,
            }
        },
    )
    network_def = {
        "_target_": MODEL_TARGET,
        "rois": info.stored,
        "input_size": info.n_points,
        "hidden_size": hidden,
    }
    return write_bundle(out, card, configs={"inference": {"network_def": network_def}}, weights=state)
