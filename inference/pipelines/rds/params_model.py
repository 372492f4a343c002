"""``pipelines.rds.params``: the typed options of the rds pipeline (light: pydantic only).

The newborn gate (:mod:`.newborn`) and the working parameters of :class:`~.model.RdsSettings`. A
working parameter left out (None) keeps the value the bundle's ``rds`` metadata gives.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from inference.pipeline_params import PipelineParams

DEFAULT_MAX_DAYS = 28


def _whole_days(value: Any) -> Any:
    if isinstance(value, bool):  # YAML `yes` is not a number of days
        raise ValueError(f"{value!r} is not a whole number of days")
    return value


def _blank_is_default(value: Any) -> Any:
    return None if value == "" else value


def _choice(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class RdsParams(PipelineParams):
    newborn_max_days: Annotated[int, BeforeValidator(_whole_days)] = Field(
        default=DEFAULT_MAX_DAYS, ge=0, description="the oldest age, in days, that counts as a newborn"
    )
    missing_age: Annotated[Literal["not assessed", "assess"], BeforeValidator(_choice)] = Field(
        default="not assessed", description="what to do when no age can be read from the header"
    )
    working_size: int | None = Field(default=None, ge=1, description="side of the working image (px)")
    median_kernel: int | None = Field(default=None, ge=1, description="median filter of the lung mask (px)")
    rotate: bool | None = Field(default=None, description="re-predict the image turned by 90/270 degrees")
    rotation_trigger: Annotated[Literal["area", "layout"] | None, BeforeValidator(_choice)] = Field(
        default=None,
        description="area: turn when the lungs are too small (the paper); layout: also when not side by side",
    )
    min_area_px: Annotated[int | None, BeforeValidator(_blank_is_default)] = Field(
        default=None, ge=0, description="lung area that triggers the turn; default the paper's, scaled"
    )
    rotation_margin: float | None = Field(
        default=None, gt=0, description="how much more plausible a turn must be"
    )
    band_fraction: float | None = Field(
        default=None, ge=0, lt=1, description="spine band removed (image width)"
    )
    threshold: float | None = Field(default=None, ge=0, le=1, description="RDS probability threshold")
    variant: str | None = Field(default=None, description="EfficientNet variant of the classifier")
    threads: int | None = Field(
        default=None, ge=0, description="torch threads while the networks run (0: torch's)"
    )

    def working_overrides(self) -> dict[str, Any]:
        """The working parameters that were given (for :meth:`~.model.RdsSettings.with_overrides`)."""
        gate = {"newborn_max_days", "missing_age"}
        return {k: v for k, v in self.model_dump().items() if k not in gate and v is not None}
