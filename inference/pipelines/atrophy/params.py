"""``pipelines.atrophy.params``, typed and checked (at node start through ``check_params``, and again
when the pipeline is built). Every problem is a :class:`ConfigError` naming the option.

* ``norms``: ``brainchart`` (default: BrainChart lobes, CentileBrain hippocampus) or ``off`` (volumes
  only; every region "not assessed", reason "norms switched off").
* ``atrophy_centile``: a region below this centile of its reference is "below the expected range"
  (default 2.5; 0 < value <= 50).
* ``calibration``: a site calibration file written by ``dicom-node calibrate atrophy`` (:mod:`.calibration`).
* ``norms_table``: a CSV of the site's own reference ranges (:mod:`.norms_table`), used before the
  built-in norms where it covers the region, sex and age.
* ``assess_coarse``: compare sources coarser than 1.5 mm anyway (default false; unreliable).
* ``change_repeatability``: the assumed per-scan repeatability (%) of a regional volume, from which the
  margin for calling a loss beyond normal ageing significant follows (default 4.0; 0 < value <= 50;
  docs/atrophy-longitudinal.md).
* ``brain_extractor`` (auto | deepbet | mindgrab) and ``head`` (a trained class head bundle): see
  :mod:`.pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy.calibration import Calibration, load_calibration
from inference.pipelines.atrophy.norms_table import NormsTable, load_norms_table

PREFIX = "pipelines.atrophy.params"
NORMS_CHOICES = ("brainchart", "off")
DEFAULT_CENTILE = 2.5
DEFAULT_REPEATABILITY = 4.0  # docs/atrophy-longitudinal.md: measured lower bound, literature


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


def read_flag(value: object, option: str) -> bool:
    """A yes/no option from the settings (YAML bool, or true/false/yes/no/on/off/1/0 as text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"{PREFIX}.{option}: expected true or false, got {value!r}")


def _centile(value: object, option: str = "atrophy_centile") -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{PREFIX}.{option}: expected a number, got {value!r}") from None
    if not 0.0 < number <= 50.0:
        raise ConfigError(f"{PREFIX}.{option}: must be > 0 and <= 50, got {number:g}")
    return number


def parse_params(params: Mapping[str, Any]) -> AtrophyParams:
    norms = str(params.get("norms") or "brainchart").strip().lower()
    if norms not in NORMS_CHOICES:
        raise ConfigError(f"{PREFIX}.norms: expected one of {', '.join(NORMS_CHOICES)}, got {norms!r}")
    table = params.get("norms_table")
    calibration = params.get("calibration")
    head = params.get("head")
    return AtrophyParams(
        norms=norms,
        atrophy_centile=_centile(params.get("atrophy_centile", DEFAULT_CENTILE)),
        calibration=load_calibration(calibration) if calibration else None,
        norms_table=load_norms_table(table) if table else None,
        assess_coarse=read_flag(params.get("assess_coarse", False), "assess_coarse"),
        brain_extractor=str(params.get("brain_extractor") or "auto"),
        head=str(head) if head else None,
        change_repeatability=_centile(
            params.get("change_repeatability", DEFAULT_REPEATABILITY), "change_repeatability"
        ),
    )
