"""The job ticket: a snapshot of why and how a job runs, written once when a rule fires.

The ticket is what the dispatcher hands to whichever worker runs the job (a local executor thread or a
Celery worker, which read it from the ledger by job id), and what an administrator reads to understand
the job. It is stored as JSON text in ``jobs.ticket`` (:meth:`JobTicket.to_json`, keys sorted) and
validated when read back (:meth:`JobTicket.from_json`): a malformed ticket is a
:class:`~dicom_node.errors.TicketError` naming the job and the field, never a ``KeyError`` mid-job.
Keys a newer or older node wrote that this one does not know are ignored (tolerant read).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dicom_node.errors import TicketError


class StudySeriesRef(BaseModel):
    """One series a study rule matched, under its role (the first role is the pipeline's input)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: str
    series_instance_uid: str
    revision: int


class JobTicket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    series_instance_uid: str
    study_instance_uid: str | None = None
    revision: int
    rule: dict[str, Any] = Field(default_factory=dict)  # the rule's configuration as it was
    reason: str = ""
    pipeline: str | None = None
    anonymize: str | None = None
    deidentify: str | None = None
    send_to: list[str] = Field(default_factory=list)
    destinations: dict[str, dict[str, Any]] = Field(default_factory=dict)  # their settings, TLS left out
    study_series: list[StudySeriesRef] | None = None  # study rules only

    @property
    def priors(self) -> dict[str, Any] | None:
        """The rule's ``priors`` settings (None: the rule fetches no priors)."""
        value = self.rule.get("priors")
        return value if isinstance(value, dict) and value else None

    @property
    def rule_match(self) -> dict[str, Any]:
        value = self.rule.get("match")
        return value if isinstance(value, dict) else {}

    @property
    def roles(self) -> list[StudySeriesRef]:
        return list(self.study_series or [])

    def to_json(self) -> str:
        """The stored form: JSON, keys sorted, ``study_series`` only for study rules."""
        exclude = {"study_series"} if self.study_series is None else set()
        data = self.model_dump(mode="json", exclude=exclude)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, job_id: int | None = None) -> JobTicket:
        where = f"job {job_id}" if job_id is not None else "job"
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(ticket)'}: {e['msg']}" for e in exc.errors()
            )
            raise TicketError(f"{where}: malformed job ticket: {problems}") from None
