"""The head's MONAI bundle (written by :func:`inference.bundle.write_bundle`): ``models/model.pt`` (an
:class:`~.head.AtrophyHead`), ``configs/*.json``.

``configs/metadata.json`` carries, under ``atrophy_head``: the feature names (the input order), the region
codes, the class names, the decision threshold, the numbers of training / test subjects, the held-out
scores and whether the weights are demonstration weights. The pipeline loads it when
``pipelines.atrophy.params.head`` names the folder.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.bundle import BundleCard, write_bundle
from inference.pipelines.atrophy.dataset import CLASS_NAMES
from inference.pipelines.atrophy.features import FEATURE_NAMES
from inference.pipelines.atrophy.regions import REGIONS

MODEL_TARGET = "inference.pipelines.atrophy.head.AtrophyHead"
DEMO_NOTE = "DEMONSTRATION WEIGHTS trained on synthetic features - not a clinical or research model"
BLOCK = "atrophy_head"
LICENCE = "Weights trained by `dicom-node train atrophy`; released under the dicom-node project licence."


@dataclass(frozen=True)
class HeadInfo:
    version: str
    hidden: int
    threshold: float
    demonstration: bool
    subjects: dict[str, int]  # train / test counts
    scores: dict[str, Any]  # held-out region scores and confusion matrix
    data_description: str = ""


def write_head_bundle(
    out: Path, state: dict[str, Any], info: HeadInfo, data_licence: str | None = None
) -> Path:
    """Write the head's bundle with :func:`inference.bundle.write_bundle`."""
    name = "atrophy head (regional features)" + (" (DEMONSTRATION WEIGHTS)" if info.demonstration else "")
    data = info.data_description or "user data"
    description = (
        (DEMO_NOTE + ". " if info.demonstration else "")
        + "Per-region atrophy (codes 11/10 ... 101/100) and dementia / MCI / normal from regional volumes, "
        + f"ICV fractions, age and sex. Trained on {data}."
    )
    card = BundleCard(
        name=name,
        version=info.version,
        task="per-region atrophy and 3-class cognitive status from regional brain volumes",
        description=description,
        changelog={info.version: f"trained with dicom-node train atrophy on {datetime.date.today()}"},
        inputs={
            "features": {
                "type": "tensor",
                "format": "features",
                "num_channels": len(FEATURE_NAMES),
                "spatial_shape": [],
                "dtype": "float32",
                "value_range": [],
                "normalisation": "raw; standardised inside the network",
            }
        },
        outputs={
            "logits": {
                "type": "logits",
                "format": "10 atrophy logits then 3 class logits",
                "num_channels": len(REGIONS) + len(CLASS_NAMES),
                "spatial_shape": [],
                "dtype": "float32",
                "value_range": [],
            }
        },
        licence=LICENCE,
        data_source=("synthetic regional features (dicom-node generator); " if info.demonstration else "")
        + data,
        data_licence=data_licence,
        copyright="dicom-node",
        blocks={
            BLOCK: {
                "feature_names": list(FEATURE_NAMES),
                "region_codes": [[r.code(True), r.code(False)] for r in REGIONS],
                "class_names": list(CLASS_NAMES),
                "threshold": info.threshold,
                "hidden": info.hidden,
                "demonstration": info.demonstration,
                "subjects": info.subjects,
                "scores": info.scores,
            }
        },
    )
    network_def = {"_target_": MODEL_TARGET, "n_features": len(FEATURE_NAMES), "hidden": info.hidden}
    return write_bundle(out, card, configs={"inference": {"network_def": network_def}}, weights=state)


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
