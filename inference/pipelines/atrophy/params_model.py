"""``pipelines.atrophy.params``: the typed options of the atrophy pipeline (light: pydantic only).

The files it names (``calibration``, ``norms_table``) are read by :func:`.params.parse_params`, which
turns this model into :class:`.params.AtrophyParams`; the node reads them at start too (``check_params``
in the registry), so a missing or malformed file stops the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from inference.pipeline_params import PipelineParams

NORMS_CHOICES = ("brainchart", "off")
DEFAULT_CENTILE = 2.5
DEFAULT_REPEATABILITY = 4.0  # docs/atrophy-longitudinal.md: measured lower bound, literature
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")


def flag(value: Any) -> bool:
    """A yes/no option (YAML bool, or true/false/yes/no/on/off/1/0 as text); ValueError otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _norms(value: Any) -> str:
    text = str(value or "brainchart").strip().lower()
    if text not in NORMS_CHOICES:
        raise ValueError(f"expected one of {', '.join(NORMS_CHOICES)}, got {text!r}")
    return text


def _centile(value: float) -> float:
    if not 0.0 < value <= 50.0:
        raise ValueError(f"must be > 0 and <= 50, got {value:g}")
    return value


def _blank_is_none(value: Any) -> Any:
    return value or None


def _blank_is_auto(value: Any) -> Any:
    return value or "auto"


OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_none)]


class AtrophyParamsModel(PipelineParams):
    norms: Annotated[str, BeforeValidator(_norms)] = Field(
        default="brainchart",
        description="brainchart (BrainChart lobes, CentileBrain hippocampus) or off (volumes only; every "
        'region "not assessed", reason "norms switched off")',
    )
    atrophy_centile: Annotated[float, AfterValidator(_centile)] = Field(
        default=DEFAULT_CENTILE,
        description='a region below this centile of its reference is "below the expected range"',
    )
    calibration: OptionalPath = Field(
        default=None, description="a site calibration file written by `dicom-node calibrate atrophy`"
    )
    norms_table: OptionalPath = Field(
        default=None,
        description="a CSV of the site's own reference ranges, used before the built-in norms where it "
        "covers the region, sex and age (docs/atrophy-norms-table.md)",
    )
    assess_coarse: Annotated[bool, BeforeValidator(flag)] = Field(
        default=False, description="compare sources coarser than 1.5 mm anyway (unreliable)"
    )
    brain_extractor: Annotated[Literal["auto", "deepbet", "mindgrab"], BeforeValidator(_blank_is_auto)] = (
        Field(default="auto", description="auto (deepbet when installed, else MindGrab), deepbet or mindgrab")
    )
    head: OptionalPath = Field(
        default=None, description="a trained class head bundle (`dicom-node train atrophy`)"
    )
    change_repeatability: Annotated[float, AfterValidator(_centile)] = Field(
        default=DEFAULT_REPEATABILITY,
        description="the assumed per-scan repeatability (%) of a regional volume, from which the margin for "
        "calling a loss beyond normal ageing significant follows (docs/atrophy-longitudinal.md)",
    )
