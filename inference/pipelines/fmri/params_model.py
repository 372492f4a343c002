"""``pipelines.fmri.params``: the typed options of the fmri pipeline (light: pydantic only)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from inference.pipeline_params import PipelineParams

PowerRoi = Annotated[int, Field(ge=1, le=264)]


class FmriParams(PipelineParams):
    motion_correction: bool = Field(
        default=True, description="rigid motion correction to the mean volume before the ROI signals"
    )
    ensemble: list[PowerRoi] | None = Field(
        default=None,
        min_length=1,
        description="Power-264 ROI numbers (1..264) voting in the ensemble; default: the bundle's ensemble "
        "(each must have a model in the bundle)",
    )
