"""What the atrophy pipeline measured on one series, kept as JSON in the node's per-pipeline cache.

One file per series, ``<cache_dir>/<SeriesInstanceUID>.json`` (:attr:`StudyContext.cache_dir
<inference.study_context.StudyContext.cache_dir>`), written atomically. A record holds the algorithm
that measured it (name and version: another algorithm measures again), the study date, age and sex,
the regional volumes and ICV (mL), whether the source was coarse or failed QC, and the acquisition
descriptors (:mod:`.acquisition`). A record that cannot be read, is of another format or of another
algorithm is treated as absent (and replaced when the series is measured again).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.pipelines.atrophy.acquisition import Acquisition
from inference.study_context import write_atomically

FORMAT = "dicom-node atrophy measurements 1"
_UID = re.compile(r"[0-9][0-9.]{0,63}")


@dataclass(frozen=True)
class SeriesMeasurements:
    """The regional volumes of one series and what is needed to compare them with another time point."""

    series_uid: str
    algorithm: str  # the measuring algorithm's name and version
    study_date: str  # YYYYMMDD or ""
    age_years: float | None
    sex: str | None  # M / F / None
    volumes_ml: dict[int, float]  # region label (1..10) -> mL
    icv_ml: float
    coarse: bool = False
    qc_problem: str | None = None
    acquisition: Acquisition = field(default_factory=Acquisition)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "series_uid": self.series_uid,
            "algorithm": self.algorithm,
            "study_date": self.study_date,
            "age_years": self.age_years,
            "sex": self.sex,
            "volumes_ml": {str(k): v for k, v in sorted(self.volumes_ml.items())},
            "icv_ml": self.icv_ml,
            "coarse": self.coarse,
            "qc_problem": self.qc_problem,
            "acquisition": self.acquisition.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesMeasurements:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT!r} record")
        age = data.get("age_years")
        return cls(
            series_uid=str(data["series_uid"]),
            algorithm=str(data["algorithm"]),
            study_date=str(data.get("study_date") or ""),
            age_years=None if age is None else float(age),
            sex=data.get("sex") or None,
            volumes_ml={int(k): float(v) for k, v in data["volumes_ml"].items()},
            icv_ml=float(data["icv_ml"]),
            coarse=bool(data.get("coarse", False)),
            qc_problem=data.get("qc_problem") or None,
            acquisition=Acquisition.from_json(dict(data.get("acquisition") or {})),
        )


def is_uid(text: str) -> bool:
    """Whether ``text`` is a UID (digits and dots, at most 64 characters): safe as a file name."""
    return _UID.fullmatch(text) is not None


def record_path(cache_dir: Path, series_uid: str) -> Path:
    if not is_uid(series_uid):
        raise ValueError(f"not a Series Instance UID: {series_uid!r}")
    return cache_dir / f"{series_uid}.json"


def load(cache_dir: Path, series_uid: str, algorithm: str) -> SeriesMeasurements | None:
    """The cached record of ``series_uid`` measured by ``algorithm``, or None (absent, unreadable, stale)."""
    path = record_path(cache_dir, series_uid)
    try:
        record = SeriesMeasurements.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.algorithm != algorithm or record.series_uid != series_uid:
        return None
    return record


def store(cache_dir: Path, record: SeriesMeasurements) -> Path:
    """Write ``record`` atomically; return its path."""
    path = record_path(cache_dir, record.series_uid)
    text = json.dumps(record.to_json(), indent=1, sort_keys=True)
    write_atomically(path, text.encode("utf-8"))
    return path
