"""The head's MONAI bundle: ``models/model.pt`` (an :class:`~.head.AtrophyHead`), ``configs/*.json``.

``configs/metadata.json`` carries, under ``atrophy_head``: the feature names (the input order), the region
codes, the class names, the decision threshold, the numbers of training / test subjects, the held-out
scores and whether the weights are demonstration weights. The pipeline loads it when
``pipelines.atrophy.params.head`` names the folder.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.pipelines.atrophy.dataset import CLASS_NAMES
from inference.pipelines.atrophy.features import FEATURE_NAMES
from inference.pipelines.atrophy.regions import REGIONS

MODEL_TARGET = "inference.pipelines.atrophy.head.AtrophyHead"
DEMO_NOTE = "DEMONSTRATION WEIGHTS trained on synthetic features - not a clinical or research model"
BLOCK = "atrophy_head"


@dataclass(frozen=True)
class HeadInfo:
    version: str
    hidden: int
    threshold: float
    demonstration: bool
    subjects: dict[str, int]  # train / test counts
    scores: dict[str, Any]  # held-out region scores and confusion matrix
    data_description: str = ""


def write_head_bundle(out: Path, state: dict[str, Any], info: HeadInfo) -> None:
    """Write configs/metadata.json, configs/inference.json, models/model.pt and SOURCE.md."""
    import torch

    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(parents=True, exist_ok=True)
    name = "atrophy head (regional features)" + (" (DEMONSTRATION WEIGHTS)" if info.demonstration else "")
    description = (
        (DEMO_NOTE + ". " if info.demonstration else "")
        + "Per-region atrophy (codes 11/10 ... 101/100) and dementia / MCI / normal from regional volumes, "
        + f"ICV fractions, age and sex. Trained on {info.data_description or 'user data'}."
    )
    metadata = {
        "version": info.version,
        "name": name,
        "description": description,
        "changelog": {info.version: f"trained with dicom-node train atrophy on {datetime.date.today()}"},
        "task": "per-region atrophy and 3-class cognitive status from regional brain volumes",
        "authors": "dicom-node",
        "copyright": "dicom-node",
        "network_data_format": {
            "inputs": {
                "features": {
                    "type": "tensor",
                    "format": "features",
                    "num_channels": len(FEATURE_NAMES),
                    "spatial_shape": [],
                    "dtype": "float32",
                    "value_range": ["raw; standardised inside the network"],
                }
            },
            "outputs": {
                "logits": {
                    "type": "logits",
                    "format": "10 atrophy logits then 3 class logits",
                    "num_channels": len(REGIONS) + len(CLASS_NAMES),
                    "spatial_shape": [],
                    "dtype": "float32",
                    "value_range": [],
                }
            },
        },
        BLOCK: {
            "feature_names": list(FEATURE_NAMES),
            "region_codes": [[r.code(True), r.code(False)] for r in REGIONS],
            "class_names": list(CLASS_NAMES),
            "threshold": info.threshold,
            "hidden": info.hidden,
            "demonstration": info.demonstration,
            "subjects": info.subjects,
            "scores": info.scores,
        },
    }
    inference = {
        "network_def": {"_target_": MODEL_TARGET, "n_features": len(FEATURE_NAMES), "hidden": info.hidden}
    }
    (out / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n", "utf-8")
    (out / "configs" / "inference.json").write_text(json.dumps(inference, indent=1) + "\n", "utf-8")
    torch.save(state, out / "models" / "model.pt")
    (out / "SOURCE.md").write_text(f"# {name}\n\n{description}\n", "utf-8")


def head_block(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``atrophy_head`` block, checked against this code's features, regions and classes."""
    block = metadata.get(BLOCK)
    if not isinstance(block, dict):
        raise InputError(f"{path}: metadata.json has no '{BLOCK}' block: not an atrophy head bundle")
    if list(block.get("feature_names", [])) != list(FEATURE_NAMES):
        raise InputError(f"{path}: the head was trained on other features than this version computes")
    if list(block.get("class_names", [])) != list(CLASS_NAMES):
        raise InputError(f"{path}: the head's classes {block.get('class_names')} are not {list(CLASS_NAMES)}")
    return block
