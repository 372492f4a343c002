"""The ``fmri`` pipeline (seed paper 000): resting-state EPI, Power 264 ROIs, per-ROI LSTM classifiers.

Importing this package is light (no torch); :func:`build` loads the bundle. Modules: ``atlas`` (ROIs,
names), ``series4d`` (4D runs), ``motion``, ``normalize``, ``features``, ``temporal``, ``model``,
``training``, ``bootstrap``, ``ensemble``, ``bundle_io``, ``report``, ``pipeline``, ``params_model``
(its typed params, light), ``synthetic``
(demonstration data), ``dataset``, ``train`` and ``evaluate`` (CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.pipelines.fmri.pipeline import FmriPipeline


def build(settings: Mapping[str, Any]) -> FmriPipeline:
    from inference.pipelines.fmri.pipeline import build as build_pipeline

    return build_pipeline(settings)
