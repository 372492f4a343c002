"""``pipelines.dermatitis.params``: the typed options of the dermatitis pipeline (light: pydantic only)."""

from __future__ import annotations

from pydantic import Field

from inference.pipeline_params import PipelineParams


class DermatitisParams(PipelineParams):
    tiles_short_side: int | None = Field(
        default=None, ge=1, description="tiles along the photograph's shorter side; default: the bundle's (6)"
    )
    min_coverage: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="a tile is graded when at least this fraction of it lies in the region; default: the "
        "bundle's (0.5)",
    )
    roi: bool = Field(
        default=True,
        description="grade only inside a GSPS / SEG region drawn on the photograph when one exists",
    )
