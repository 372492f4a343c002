"""The fmri bundle: a MONAI bundle whose network is a RoiLstmBank, plus the ROI table in metadata.

``configs/metadata.json`` carries, under ``fmri``: the trained timing (length, TR), the number of
sample points per ROI, the per-ROI test statistics (loss, accuracy, bootstrap p, significant), the
significant set, the ensemble, the ensemble weights (each ROI's accuracy inside the training split),
the kind of input (``power264_spheres``, or ``roi_timeseries:<atlas>`` for a time-series bundle the
DICOM pipeline refuses) and whether the weights are demonstration weights.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.pipelines.fmri.temporal import Timing
from inference.pipelines.fmri.training import RoiStats

MODEL_TARGET = "inference.pipelines.fmri.model.RoiLstmBank"
POWER_INPUT = "power264_spheres"
DEMO_NOTE = "DEMONSTRATION WEIGHTS trained on synthetic data - not a clinical or research model"


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
    meta_path = path / "configs" / "metadata.json"
    try:
        metadata = json.loads(meta_path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{meta_path}: {exc}") from exc
    return info_from_metadata(path, metadata)


def write_bundle(
    out: Path, state: dict[str, Any], info: FmriBundleInfo, hidden: int, description: str
) -> None:
    """Write configs/metadata.json, configs/inference.json, models/model.pt and SOURCE.md."""
    import torch

    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(parents=True, exist_ok=True)
    name = "fmri Power-264 ROI LSTM" + (" (DEMONSTRATION WEIGHTS)" if info.demonstration else "")
    metadata = {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20220324.json",
        "version": info.version,
        "name": name,
        "description": (DEMO_NOTE + ". " if info.demonstration else "") + description,
        "changelog": {info.version: f"trained with dicom-node train fmri on {datetime.date.today()}"},
        "task": "binary classification of resting-state fMRI per Power ROI",
        "authors": "dicom-node",
        "copyright": "dicom-node",
        "network_data_format": {
            "inputs": {
                "roi_matrices": {
                    "type": "tensor",
                    "format": "magnitude",
                    "num_channels": len(info.stats),
                    "spatial_shape": [info.timing.length, info.n_points],
                    "dtype": "float32",
                    "value_range": ["z-score"],
                }
            },
            "outputs": {
                "probabilities": {
                    "type": "probabilities",
                    "format": "classes",
                    "num_channels": len(info.stats),
                    "spatial_shape": [1],
                    "dtype": "float32",
                    "value_range": [0, 1],
                }
            },
        },
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
        },
    }
    inference = {
        "network_def": {
            "_target_": MODEL_TARGET,
            "rois": info.stored,
            "input_size": info.n_points,
            "hidden_size": hidden,
        },
    }
    (out / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n", "utf-8")
    (out / "configs" / "inference.json").write_text(json.dumps(inference, indent=1) + "\n", "utf-8")
    torch.save(state, out / "models" / "model.pt")
    (out / "SOURCE.md").write_text(f"# {name}\n\n{metadata['description']}\n", "utf-8")
