"""Turn brainchop's TensorFlow.js MeshNets into the MONAI bundles shipped in ``bundle/``.

Run once (the result is committed)::

    python -m inference.pipelines.atrophy.convert BRAINCHOP/public/models inference/pipelines/atrophy/bundle

Each bundle gets ``configs/metadata.json``, ``configs/inference.json`` (``network_def`` building
:class:`~inference.pipelines.atrophy.meshnet.MeshNet`) and ``models/model.pt`` (the state dict).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

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
    labels: str


BUNDLES = (
    BundleSpec(
        "brain_extraction",
        "mindgrab",
        "MindGrab brain extraction (brainchop), converted to torch",
        "Skull stripping: 2 classes (background, brain) on a conformed 1 mm 256^3 T1, min-max normalised.",
        "0 background, 1 brain",
    ),
    BundleSpec(
        "parcellation",
        "model21_104class",
        "brainchop Aparc+Aseg 104 (Desikan-Killiany) parcellation, converted to torch",
        "FreeSurfer-style aparc+aseg with 104 labels (Desikan-Killiany cortex, subcortical, hippocampus)"
        " on a conformed 1 mm T1, min-max normalised. Label names in configs/labels.json.",
        "see configs/labels.json",
    ),
)


def metadata(spec: BundleSpec, out_channels: int) -> dict[str, object]:
    return {
        "version": VERSION,
        "name": spec.name,
        "task": spec.description,
        "description": (
            f"{spec.description} Pretrained weights from brainchop ({SOURCE_URL}, "
            f"public/models/{spec.source}) "
            "converted from TensorFlow.js to torch by dicom-node. Research / demonstration use only: not a "
            "medical device, not validated by us."
        ),
        "authors": "neuroneural/brainchop (weights); dicom-node (conversion)",
        "copyright": LICENSE_NOTE,
        "license": "MIT",
        "demonstration_weights": True,
        "monai_version": "1.6.1",
        "pytorch_version": "2.13.0",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "MR",
                    "num_channels": 1,
                    "spatial_shape": [256, 256, 256],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": out_channels,
                    "spatial_shape": [256, 256, 256],
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": False,
                    "channel_def": spec.labels,
                }
            },
        },
    }


def write_bundle(models: Path, out: Path, spec: BundleSpec) -> None:
    source = models / spec.source
    net_spec, state = state_dict_from_tfjs(source / "model.json")
    folder = out / spec.folder
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "models" / "model.pt")
    meta = metadata(spec, net_spec.out_channels)
    (folder / "configs" / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    inference = {"network_def": net_spec.network_def()}
    (folder / "configs" / "inference.json").write_text(
        json.dumps(inference, indent=2) + "\n", encoding="utf-8"
    )
    colormap = json.loads((source / "colormap.json").read_text(encoding="utf-8"))
    labels = {"labels": colormap["labels"]}
    (folder / "configs" / "labels.json").write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    models, out = Path(argv[0]), Path(argv[1])
    for spec in BUNDLES:
        write_bundle(models, out, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
