"""Put a lung UNet trained on real radiographs into an RDS bundle, with its provenance and test scores.

``python -m inference.pipelines.rds.ship_lungs CHECKPOINT [--bundle DIR] --scores SCORES.json
--training TRAINING.json``

``CHECKPOINT`` is a ``best.pt`` / ``last.pt`` of :mod:`inference.pipelines.rds.lung_training`; the
bundle's classifier is kept as it is. The metadata's ``lung_model`` entry records what the UNet was
trained on, how it was split, its test scores (from ``dicom-node evaluate rds DATA --json``) and its
licence (a model derived from CC BY data: attribution); ``rds.working_size`` becomes the UNet's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from inference.bundle import (
    LICENSE,
    WRITER_KEYS,
    BundleCard,
    read_config,
    read_metadata,
    read_weights,
    write_bundle,
)
from inference.pipelines.rds.bundle_io import SHIPPED_BUNDLE, TASK, tensor_specs

TRAINED_ON = (
    "Real frontal chest radiographs with patient-right / patient-left lung masks (shared/data/cxr_lungs): "
    "the paediatric Kermany films (age 1-5, CC BY 4.0; image-mask pairing inferred upstream) and the "
    "adult COVID-19 films licensed CC BY 3.0 / 4.0; masks V7 Labs (CC BY 4.0). No neonatal film."
)
SPLIT = (
    "patient level: paediatric patient_key SHA-1 mod 10 (0-6 train, 7 validation, 8-9 test); every adult "
    "patient with a CC BY film trains; the other adult patients (NC / ND / unlicensed films, never "
    "trained on) are validation (SHA-1 mod 5 = 0) or test"
)
LICENCE = (
    "Weights derived from CC BY 4.0 / CC BY 3.0 data: redistribution requires attribution to Kermany et al. "
    "2018 (doi:10.17632/rscbjbr9sj.2), the Hannover Medical School COVID-19 image repository "
    "(doi:10.6084/m9.figshare.12275009) and other CC BY sources of the COVID-19 image data collection "
    "(Cohen et al. 2020), and V7 Labs (lung masks). Research use only; not a medical device."
)


def install(checkpoint: Path, bundle: Path, scores: dict[str, Any], training: dict[str, Any]) -> None:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = read_weights(bundle)
    weights["model"] = saved["state"]
    configs = read_config(bundle)
    configs["network_def"] = saved["config"]
    metadata = read_metadata(bundle)
    size = int(training["size"])
    history = training.get("history", [])
    lung_model = {
        "demonstration": False,
        "research_use_only": True,
        "network": f"MONAI UNet, channels {training['channels']}, 1 residual unit, {size} x {size} grey",
        "trained_on": TRAINED_ON,
        "training_films": training.get("train_films"),
        "split": SPLIT,
        "training": {
            "epochs": training.get("epochs"),
            "checkpoint_epoch": int(saved.get("epoch", 0)),
            "minutes_on_cpu": training.get("minutes"),
            "batch_size": training.get("batch_size"),
            "lr": training.get("lr"),
            "adult_repeat": training.get("adult_repeat"),
            "seed": training.get("seed"),
            "loss": "Dice + cross-entropy",
            "augmentation": "rotation 10 deg, scale 0.85-1.15, shift 8 %, gamma, contrast, noise; no flip",
            "last_epoch": history[-1] if history else None,
        },
        "test_scores": scores,
        "licence": LICENCE,
    }
    classifier = {
        "demonstration": True,
        "site_trained": False,
        "trained_on": "synthetic neonatal chest phantoms (dicom-node phantom generator)",
    }
    kept = {key: value for key, value in metadata.items() if key not in WRITER_KEYS}
    inputs, outputs = tensor_specs(size)
    card = BundleCard(
        name="RDS chest X-ray: real-data lung UNet, demonstration RDS classifier",
        version="0.2.0-demo-classifier",
        task=TASK,
        description=(
            "Lung UNet trained on real paediatric and adult chest radiographs (research use only); RDS "
            "classifier = DEMONSTRATION WEIGHTS trained only on synthetic phantoms: its probability is "
            "reported as a demonstration note, never as a diagnosis. Train your own with `dicom-node "
            "train rds`."
        ),
        inputs=inputs,
        outputs=outputs,
        licence=(bundle / LICENSE).read_text("utf-8"),
        data_source=f"lung UNet: {TRAINED_ON}; RDS classifier: {classifier['trained_on']}",
        blocks={
            **kept,
            "demonstration": True,  # the classifier: no coded RDS finding from this bundle
            "rds": {**metadata["rds"], "working_size": size, "rotation_margin": 1.5},
            "lung_model": lung_model,
            "classifier": classifier,
        },
        notes=["See ../SOURCE.md and the metadata's `lung_model` entry for data, split and test scores."],
    )
    write_bundle(bundle, card, configs={"inference": configs}, weights=weights)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--bundle", type=Path, default=SHIPPED_BUNDLE)
    parser.add_argument("--scores", type=Path, required=True, help="JSON of `evaluate rds DATA --json`")
    parser.add_argument("--training", type=Path, required=True, help="training.json of lung_training")
    args = parser.parse_args(argv)
    install(
        args.checkpoint,
        args.bundle,
        json.loads(args.scores.read_text("utf-8")),
        json.loads(args.training.read_text("utf-8")),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
