"""The ``rds`` pipeline (research seed 003): neonatal chest radiograph lung segmentation and RDS
classification, with its phantom generator, training, evaluation and shipped demonstration bundle.

Modules: ``phantom`` / ``phantom_dicom`` (synthetic data), ``images`` / ``dataset`` (pixels and the
training folder), ``networks`` / ``bundle_io`` / ``model`` (MONAI networks and bundle), ``postprocess``
(median filter, rotation fallback, spine band), ``pipeline`` (the registered pipeline), ``training`` /
``train`` / ``evaluate`` (``dicom-node train rds`` and ``dicom-node evaluate rds``), ``newborn`` (the
age gate), ``orientation`` (patient sides from the geometry), ``cxr_lungs`` / ``lung_training`` /
``evaluate_real`` / ``ship_lungs`` (the lung model trained and measured on real radiographs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NUMERIC_PARAMS = {
    "working_size": int,
    "median_kernel": int,
    "min_area_px": int,
    "threads": int,
    "rotation_margin": float,
    "band_fraction": float,
    "threshold": float,
}


def check_params(params: Mapping[str, Any]) -> None:
    """``pipelines.rds.params`` checks that need no model (the node runs them at start): the newborn
    gate (``newborn_max_days``, ``missing_age``) and the numeric working parameters."""
    from dicom_node.errors import ConfigError
    from inference.pipelines.rds.newborn import gate_from_params

    gate_from_params(params)
    for key, kind in NUMERIC_PARAMS.items():
        value = params.get(key)
        if value is None or (key == "min_area_px" and value == ""):
            continue
        try:
            kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"pipelines.rds.params.{key}: {value!r} is not a number") from None
