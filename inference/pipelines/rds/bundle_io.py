"""Read and write the RDS MONAI bundle: both networks in one bundle.

Layout: ``configs/metadata.json`` (MONAI metadata; the ``rds`` entry holds the working parameters),
``configs/inference.json`` (``network_def``: the UNet, ``classifier_def``: the EfficientNet),
``models/model.pt`` (``{"model": UNet state, "classifier": EfficientNet state}``), ``docs/README.md``
and ``LICENSE``. The UNet is loaded by :func:`inference.bundle.load_bundle` (validation, device,
once per process); the classifier from the same files here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dicom_node.errors import InputError
from inference.bundle import INFERENCE_CONFIGS, METADATA, WEIGHTS, Expectation, load_bundle
from inference.pipelines.rds.model import RdsModel, RdsSettings

SHIPPED_BUNDLE = Path(__file__).with_name("bundle")
EXPECT = Expectation(input_channels=1, output_channels=3, spatial_dims=2)
DEMO_NOTICE = (
    "DEMONSTRATION WEIGHTS trained only on synthetic neonatal chest phantoms (no patient data); "
    "not for clinical use."
)


def classifier_is_demonstration(metadata: Mapping[str, Any]) -> bool:
    """Whether the bundle's RDS classifier is a demonstration (trained on synthetic data only).

    The ``classifier`` entry says so (``demonstration``); a bundle without it (older) follows the
    bundle-wide ``demonstration`` flag. Only a classifier that is not a demonstration may give a coded
    RDS finding.
    """
    classifier = metadata.get("classifier")
    if isinstance(classifier, Mapping) and "demonstration" in classifier:
        return bool(classifier["demonstration"])
    return bool(metadata.get("demonstration", False))


def settings_from_metadata(metadata: Mapping[str, Any]) -> RdsSettings:
    values = metadata.get("rds")
    if not isinstance(values, Mapping):
        raise InputError("bundle metadata has no 'rds' entry (working parameters)")
    return RdsSettings().with_overrides(dict(values))


def load_model(path: Path | None, device: str = "auto") -> tuple[RdsModel, dict[str, Any]]:
    """The RDS model from the bundle at ``path`` (None: the shipped demonstration bundle)."""
    from monai.bundle import ConfigParser

    root = Path(path) if path is not None else SHIPPED_BUNDLE
    unet_bundle = load_bundle(root, device=device, expect=EXPECT)
    settings = settings_from_metadata(unet_bundle.metadata)
    config_path = next(unet_bundle.path / c for c in INFERENCE_CONFIGS if (unet_bundle.path / c).is_file())
    parser = ConfigParser()
    parser.read_config(str(config_path))
    if "classifier_def" not in parser:
        raise InputError(f"{config_path}: no 'classifier_def' entry")
    try:
        classifier = parser.get_parsed_content("classifier_def", instantiate=True)
        state = torch.load(unet_bundle.path / WEIGHTS, map_location="cpu", weights_only=True)
        classifier.load_state_dict(state["classifier"])
    except Exception as exc:
        raise InputError(f"{root}: cannot build the classifier: {type(exc).__name__}: {exc}") from exc
    classifier = classifier.to(unet_bundle.device).eval()
    return RdsModel(unet_bundle.network, classifier, settings), unet_bundle.metadata


def write_bundle(
    out: Path,
    unet: torch.nn.Module,
    classifier: torch.nn.Module,
    configs: Mapping[str, Any],
    settings: RdsSettings,
    training: Mapping[str, Any],
    demonstration: bool,
    lung_model: Mapping[str, Any] | None = None,
) -> Path:
    """Write the bundle folder ``out``; ``configs`` holds ``network_def`` and ``classifier_def``.

    ``demonstration``: the classifier was trained on synthetic data (no coded finding from it); else it
    is site-trained on ``training["data"]``. ``lung_model``: the provenance of the UNet (default: trained
    in the same run, on the same data).
    """
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "docs").mkdir(parents=True, exist_ok=True)
    size = settings.working_size
    name = "RDS neonatal chest X-ray (demonstration weights)" if demonstration else "RDS neonatal chest X-ray"
    metadata = {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
        "0.8.1/meta_schema_20220324.json",
        "version": "0.1.0-demo" if demonstration else "0.1.0",
        "name": name,
        "task": "neonatal chest radiograph: left/right lung segmentation and RDS classification",
        "description": (DEMO_NOTICE + " " if demonstration else "")
        + "UNet lung segmentation, median filter + rotation fallback, EfficientNet RDS classifier.",
        "authors": "dicom-node",
        "copyright": "dicom-node contributors",
        "demonstration": demonstration,
        "monai_version": _monai_version(),
        "pytorch_version": torch.__version__.split("+")[0],
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "num_channels": 1,
                    "spatial_shape": [size, size],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 3,
                    "spatial_shape": [size, size],
                    "dtype": "float32",
                    "channel_def": {"0": "background", "1": "right lung", "2": "left lung"},
                },
                "rds_logit": {"type": "probabilities", "format": "classes", "num_channels": 1},
            },
        },
        "classifier": {
            "demonstration": demonstration,
            "site_trained": not demonstration,
            "trained_on": "synthetic phantoms" if demonstration else str(training.get("data", "site data")),
        },
        "lung_model": dict(lung_model)
        if lung_model is not None
        else {"demonstration": demonstration, "trained_on": str(training.get("data", "site data"))},
        "rds": {
            "working_size": size,
            "median_kernel": settings.median_kernel,
            "rotate": settings.rotate,
            "rotation_trigger": settings.rotation_trigger,
            "rotation_margin": settings.rotation_margin,
            "band_fraction": settings.band_fraction,
            "threshold": settings.threshold,
            "variant": settings.variant,
        },
        "training": dict(training),
    }
    (out / METADATA).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    inference = {"bundle_root": ".", **configs}
    (out / INFERENCE_CONFIGS[0]).write_text(json.dumps(inference, indent=2) + "\n", encoding="utf-8")
    state = {"model": _half_safe(unet.state_dict()), "classifier": _half_safe(classifier.state_dict())}
    torch.save(state, out / WEIGHTS)
    readme = (DEMO_NOTICE + "\n\n" if demonstration else "") + _readme(training)
    (out / "docs" / "README.md").write_text(readme, encoding="utf-8")
    (out / "LICENSE").write_text(
        "Weights trained by `dicom-node train rds` on data generated by dicom-node (synthetic phantom "
        "when demonstration is true); released under the dicom-node project licence.\n",
        encoding="utf-8",
    )
    return out


def _half_safe(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in state.items()}


def _monai_version() -> str:
    import monai

    return str(monai.__version__)


def _readme(training: Mapping[str, Any]) -> str:
    lines = ["# RDS bundle", "", "Trained by `dicom-node train rds`.", "", "Training run:", ""]
    lines += [f"- {key}: {value}" for key, value in training.items()]
    return "\n".join(lines) + "\n"
