"""The newborn gate: RDS is a diagnosis of the newborn, so the classifier answers only for newborns.

The age in days comes from Patient's Age (AS: ``nnnD``, ``nnnW``, ``nnnM``, ``nnnY``), else from Patient's
Birth Date and the date the image was taken (Study Date, else Series / Acquisition / Content Date).
An attribute that is absent, empty or unreadable counts as unknown; nothing here raises on a header.

Pipeline params (``pipelines.rds.params``, :class:`~.params_model.RdsParams`, checked at node start):

- ``newborn_max_days`` (int >= 0, default 28): the oldest age, in days, that counts as a newborn;
- ``missing_age`` (``"not assessed"``, default, or ``"assess"``): what to do when no age can be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom.dataset import Dataset

from inference.pipelines.rds.params_model import DEFAULT_MAX_DAYS, RdsParams

DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}
IMAGE_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
NOT_NEWBORN = "RDS not assessed: not a newborn"
AGE_UNKNOWN = "RDS not assessed: patient age unknown"


def parse_age_days(value: object) -> float | None:
    """Patient's Age (e.g. ``'003D'``, ``'002W'``, ``'001M'``, ``'045Y'``) in days; None if unreadable.

    A bare number (``'62'``: not a valid AS value, but what some archives write, e.g. the RSNA
    pneumonia challenge) is read as years.
    """
    text = str(value or "").strip().upper()
    if text.isdigit() and len(text) <= 3:
        return int(text) * DAYS_PER_UNIT["Y"]
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in DAYS_PER_UNIT:
        return None
    return int(text[:3]) * DAYS_PER_UNIT[text[3]]


def parse_date(value: object) -> date | None:
    text = str(value or "").strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def age_in_days(ds: Dataset) -> float | None:
    """The patient's age in days when the image was taken, or None when the header does not tell."""
    days = parse_age_days(ds.get("PatientAge"))
    if days is not None:
        return days
    birth = parse_date(ds.get("PatientBirthDate"))
    if birth is None:
        return None
    for keyword in IMAGE_DATES:
        taken = parse_date(ds.get(keyword))
        if taken is not None:
            difference = (taken - birth).days
            return float(difference) if difference >= 0 else None
    return None


@dataclass(frozen=True)
class NewbornGate:
    max_days: int = DEFAULT_MAX_DAYS
    missing: str = "not assessed"

    def refusal(self, ds: Dataset) -> str | None:
        """None when RDS may be assessed for this patient, else the sentence saying why not."""
        days = age_in_days(ds)
        if days is None:
            return None if self.missing == "assess" else AGE_UNKNOWN
        return None if days <= self.max_days else NOT_NEWBORN


def gate_from_params(params: Mapping[str, Any] | RdsParams) -> NewbornGate:
    """The gate of ``pipelines.rds.params``; ConfigError (naming the key) on a bad value."""
    if not isinstance(params, RdsParams):
        params = RdsParams.of({"params": params}, "rds")
    return NewbornGate(params.newborn_max_days, params.missing_age)
