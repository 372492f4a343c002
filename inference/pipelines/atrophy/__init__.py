"""The ``atrophy`` pipeline (seed 004): skull strip, 10 regions, volumes and atrophy flags on 3D T1 MRI.

Modules: :mod:`.meshnet` (network + TensorFlow.js loader), :mod:`.convert` (brainchop models → bundles),
:mod:`.conform` (1 mm 256^3 grid and back), :mod:`.brain_extraction` (deepbet's networks),
:mod:`.segment` (skull strip and parcellation), :mod:`.boxes` (crops), :mod:`.regions`
(Desikan-Killiany parcels → 10 regions), :mod:`.brainchart` / :mod:`.reference` / :mod:`.norms`
(norms), :mod:`.assessment` (what the report says), :mod:`.calibration` (site offsets), :mod:`.etiv`
(eTIV), :mod:`.pipeline` (the pipeline). The trainable head: :mod:`.features` (regional features and
their CSV cache), :mod:`.dataset` (AI-Hub style data),
:mod:`.head` (model and training), :mod:`.head_bundle`, :mod:`.metrics`, :mod:`.train` / :mod:`.evaluate`
(CLI), :mod:`.synthetic` (a synthetic features data set). Importing this package imports nothing heavy;
:func:`build` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.pipelines.atrophy.pipeline import AtrophyPipeline


def build(settings: Mapping[str, Any]) -> AtrophyPipeline:
    from inference.pipelines.atrophy.pipeline import AtrophyPipeline

    return AtrophyPipeline(settings)


def check_params(params: Mapping[str, Any]) -> None:
    """``pipelines.atrophy.params`` checks that need no model (the node runs them at start)."""
    from inference.pipelines.atrophy.params import parse_params

    parse_params(params)
