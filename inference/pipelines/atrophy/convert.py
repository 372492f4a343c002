"""Turn brainchop's TensorFlow.js MeshNets into the MONAI bundles shipped in ``bundle/``.

Run once (the result is committed)::

    python -m inference.pipelines.atrophy.convert BRAINCHOP/public/models inference/pipelines/atrophy/bundle

Each bundle is written by :func:`inference.bundle.write_bundle`: ``configs/metadata.json``,
``configs/inference.json`` (``network_def`` building :class:`~inference.pipelines.atrophy.meshnet.MeshNet`),
``configs/labels.json`` (brainchop's class names), ``models/model.pt`` (the state dict), the docs and
brainchop's MIT ``LICENSE``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_node.errors import InputError
from inference.bundle import BundleCard, write_bundle
from inference.pipelines.atrophy.meshnet import state_dict_from_tfjs

VERSION = "1.0.0"
LICENSE_NOTE = "MIT, Copyright (c) 2021 neuroneural/brainchop (see ../LICENSE)"
SOURCE_URL = "https://github.com/neuroneural/brainchop"


@dataclass(frozen=True)
class BundleSpec:
    folder: str  # bundle folder name under bundle/
    source: str  # model folder under brainchop's public/models
    name: str
    description: str


BUNDLES = (
    BundleSpec(
        "brain_extraction",
        "mindgrab",
        "MindGrab brain extraction (brainchop), converted to torch",
        "Skull stripping: 2 classes (background, brain) on a conformed 1 mm 256^3 T1, min-max normalised.",
    ),
    BundleSpec(
        "parcellation",
        "model21_104class",
        "brainchop Aparc+Aseg 104 (DKT) parcellation, converted to torch",
        "FreeSurfer-style aparc+aseg with 104 labels (DKT cortex, subcortical, hippocampus)"
        " on a conformed 1 mm T1, min-max normalised. Label names in configs/labels.json.",
    ),
)


def card(spec: BundleSpec, labels: list[str], licence: str) -> BundleCard:
    """The bundle card of ``spec``; ``labels``: the class names (brainchop's colormap.json)."""
    shape = [256, 256, 256]
    image = {
        "type": "image",
        "spatial_shape": shape,
        "dtype": "float32",
        "is_patch_data": False,
    }
    return BundleCard(
        name=spec.name,
        version=VERSION,
        task=spec.description,
        description=(
            f"{spec.description} Pretrained weights from brainchop ({SOURCE_URL}, "
            f"public/models/{spec.source}) "
            "converted from TensorFlow.js to torch by dicom-node. Research / demonstration use only: not a "
            "medical device, not validated by us."
        ),
        inputs={
            "image": {
                **image,
                "format": "magnitude",
                "modality": "MR",
                "num_channels": 1,
                "value_range": [0, 1],
            }
        },
        outputs={
            "pred": {
                **image,
                "format": "segmentation",
                "num_channels": len(labels),
                "value_range": [],
                "channel_def": {str(index): name for index, name in enumerate(labels)},
            }
        },
        licence=licence,
        data_source=f"brainchop's own training ({SOURCE_URL}, public/models/{spec.source}); not retrained",
        authors="neuroneural/brainchop (weights); dicom-node (conversion)",
        copyright=LICENSE_NOTE,
        blocks={"license": "MIT", "demonstration_weights": True},
    )


def convert(models: Path, out: Path, spec: BundleSpec) -> Path:
    """Convert brainchop's ``models/<spec.source>`` into the bundle folder ``out/<spec.folder>``."""
    source = models / spec.source
    net_spec, state = state_dict_from_tfjs(source / "model.json")
    colormap = json.loads((source / "colormap.json").read_text(encoding="utf-8"))
    labels = [str(label) for label in colormap["labels"]]
    if len(labels) != net_spec.out_channels:
        raise InputError(f"{source}: {len(labels)} labels for {net_spec.out_channels} output channels")
    found = [p for p in (models.parent / "LICENSE", models.parent.parent / "LICENSE") if p.is_file()]
    licence = found[0].read_text(encoding="utf-8") if found else LICENSE_NOTE
    configs: dict[str, dict[str, Any]] = {
        "inference": {"network_def": net_spec.network_def()},
        "labels": {"labels": labels},
    }
    return write_bundle(out / spec.folder, card(spec, labels, licence), configs=configs, weights=state)


def main(argv: list[str]) -> int:
    models, out = Path(argv[0]), Path(argv[1])
    for spec in BUNDLES:
        convert(models, out, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
