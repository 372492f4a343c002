"""``pipelines.atrophy.params`` resolved: the typed options (:class:`.params_model.AtrophyParamsModel`,
validated at node start, every key documented there and in docs/configuration.md) with the files they
name loaded. Every problem is a :class:`ConfigError` naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inference.pipelines.atrophy.calibration import Calibration, load_calibration
from inference.pipelines.atrophy.norms_table import NormsTable, load_norms_table
from inference.pipelines.atrophy.params_model import (
    DEFAULT_CENTILE,
    DEFAULT_REPEATABILITY,
    AtrophyParamsModel,
)

PREFIX = "pipelines.atrophy.params"


@dataclass(frozen=True)
class AtrophyParams:
    norms: str = "brainchart"
    atrophy_centile: float = DEFAULT_CENTILE
    calibration: Calibration | None = None
    norms_table: NormsTable | None = None
    assess_coarse: bool = False
    brain_extractor: str = "auto"
    head: str | None = None
    change_repeatability: float = DEFAULT_REPEATABILITY


def parse_params(params: Mapping[str, Any] | AtrophyParamsModel) -> AtrophyParams:
    """The options validated (ConfigError naming the key) and the files they name loaded."""
    if not isinstance(params, AtrophyParamsModel):
        params = AtrophyParamsModel.of({"params": params}, "atrophy")
    return AtrophyParams(
        norms=params.norms,
        atrophy_centile=params.atrophy_centile,
        calibration=load_calibration(params.calibration) if params.calibration else None,
        norms_table=load_norms_table(params.norms_table) if params.norms_table else None,
        assess_coarse=params.assess_coarse,
        brain_extractor=params.brain_extractor,
        head=str(params.head) if params.head else None,
        change_repeatability=params.change_repeatability,
    )
