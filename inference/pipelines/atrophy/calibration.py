"""Site calibration: this scanner/protocol's offset per region, from the site's own healthy controls.

BrainChart's out-of-sample approach treats a new site as a new study whose random effect on log mu is
unknown; it is estimated from the site's controls with the published (fixed) shape of the reference.
We do the same for each of the 10 regions: the offset d maximises the likelihood of the controls'
volumes v_i under the reference scaled by exp(d) (sigma and nu fixed at their population values)::

    d = argmax sum_i [ log f(v_i * exp(-d) | age_i, sex_i, ICV_i) - d ]

(the Jacobian term -d because the scaled density is f(v e^-d) e^-d). Its standard error comes from the
curvature of the log-likelihood at the maximum. The pipeline then compares v * exp(-d) with the
reference (:mod:`.reference`), i.e. a systematic under- or over-segmentation of a region on this scanner
no longer moves every patient's centile. Only the location changes; the spread stays the population's.

The authors recommend at least 100 controls to estimate a new site's offsets; with n controls the
offset's SE is roughly CV / sqrt(n) (CV ~10 %: 0.01 at n = 100, 0.03 at n = 10). ``dicom-node calibrate
atrophy`` refuses fewer than :data:`MIN_CONTROLS` and warns under :data:`RECOMMENDED_CONTROLS`.

File (JSON, written by :func:`write_calibration`, read by :func:`load_calibration`)::

    {"format": "dicom-node-atrophy-calibration/1", "name": "...", "created": "...", "n_controls": 120,
     "offsets": {"left frontal": {"log_offset": -0.05, "se": 0.01, "n": 120}, ...}}
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import optimize

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import reference
from inference.pipelines.atrophy.features import RegionalFeatures
from inference.pipelines.atrophy.regions import REGIONS, Region

FORMAT = "dicom-node-atrophy-calibration/1"
OPTION = "pipelines.atrophy.params.calibration"
MIN_CONTROLS = 10
RECOMMENDED_CONTROLS = 100
MAX_ABS_OFFSET = 1.0  # log scale: a factor e (2.7) either way is not a plausible site effect


def region_key(region: Region) -> str:
    return f"{region.side} {region.structure}"


@dataclass(frozen=True)
class RegionOffset:
    log_offset: float
    se: float
    n: int


@dataclass(frozen=True)
class Calibration:
    name: str
    created: str
    n_controls: int
    offsets: dict[str, RegionOffset]
    path: str = ""

    def offset(self, region: Region) -> float:
        found = self.offsets.get(region_key(region))
        return found.log_offset if found else 0.0

    @property
    def description(self) -> str:
        where = f" ({Path(self.path).name})" if self.path else ""
        return f"{self.name}{where}, {self.n_controls} controls, {self.created[:10]}"


def _negative_log_likelihood(offset: float, region: Region, controls: Sequence[RegionalFeatures]) -> float:
    index = REGIONS.index(region)
    total = 0.0
    scale = math.exp(-offset)
    for control in controls:
        assert control.age is not None and control.sex is not None
        total += reference.log_density(
            region.structure, region.side, control.volumes_ml[index] * scale, control.age, control.sex,
            control.icv_ml,
        ) - offset  # fmt: skip
    return -total


def fit_region(region: Region, controls: Sequence[RegionalFeatures]) -> RegionOffset:
    """The maximum-likelihood offset of one region and its standard error."""
    fit = optimize.minimize_scalar(
        _negative_log_likelihood,
        bounds=(-MAX_ABS_OFFSET, MAX_ABS_OFFSET),
        args=(region, controls),
        method="bounded",
        options={"xatol": 1e-6},
    )
    d, h = float(fit.x), 1e-3
    curvature = (
        _negative_log_likelihood(d + h, region, controls)
        - 2 * _negative_log_likelihood(d, region, controls)
        + _negative_log_likelihood(d - h, region, controls)
    ) / (h * h)
    se = 1.0 / math.sqrt(curvature) if curvature > 0 else float("nan")
    return RegionOffset(d, se, len(controls))


def usable(controls: Sequence[RegionalFeatures]) -> list[RegionalFeatures]:
    """Controls with age, sex and a positive ICV (the others cannot be compared with a norm)."""
    return [c for c in controls if c.age is not None and c.sex in ("M", "F") and c.icv_ml > 0]


def fit(controls: Sequence[RegionalFeatures], name: str) -> Calibration:
    kept = usable(controls)
    if len(kept) < MIN_CONTROLS:
        raise ValueError(f"{len(kept)} usable controls (with age and sex); at least {MIN_CONTROLS} needed")
    offsets = {region_key(r): fit_region(r, kept) for r in REGIONS}
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return Calibration(name, created, len(kept), offsets)


def write_calibration(calibration: Calibration, path: Path) -> None:
    data = {
        "format": FORMAT,
        "name": calibration.name,
        "created": calibration.created,
        "n_controls": calibration.n_controls,
        "reference": "BrainChart lobes / CentileBrain hippocampus (dicom-node atrophy reference)",
        "offsets": {
            key: {"log_offset": round(o.log_offset, 6), "se": round(o.se, 6), "n": o.n}
            for key, o in calibration.offsets.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration file; every problem is a ConfigError naming the option and file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{OPTION}: {path}: cannot read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{OPTION}: {path}: not a calibration file (format {FORMAT!r} expected)")
    offsets: dict[str, RegionOffset] = {}
    known = {region_key(r) for r in REGIONS}
    for key, entry in dict(data.get("offsets") or {}).items():
        if key not in known:
            raise ConfigError(f"{OPTION}: {path}: unknown region {key!r}")
        try:
            value = float(entry["log_offset"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{OPTION}: {path}: {key}: log_offset missing or not a number") from None
        if not math.isfinite(value) or abs(value) > MAX_ABS_OFFSET:
            raise ConfigError(f"{OPTION}: {path}: {key}: log_offset {value} outside +-{MAX_ABS_OFFSET}")
        offsets[key] = RegionOffset(value, float(entry.get("se", float("nan"))), int(entry.get("n", 0)))
    return Calibration(
        str(data.get("name") or path.stem),
        str(data.get("created") or ""),
        int(data.get("n_controls") or 0),
        offsets,
        str(path),
    )
