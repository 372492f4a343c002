"""The priors step of a pipeline job: fetch the rule's priors and link them into ``context/priors/``.

Each prior series lies in ``context/priors/<StudyDate>_<SeriesInstanceUID>/`` beside the job's input (the
layout of :mod:`inference.study_context`). Each C-FIND the step makes is a ``priors-query`` event in the
job's timeline, each prior a ``prior-retrieved`` or ``prior-held`` event (kept from an earlier job). An
archive that cannot be asked or refuses the retrieve fails this job only, with its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom_node.config import Config
from dicom_node.config_query import PriorsConfig
from dicom_node.errors import PipelineError
from dicom_node.ledger import JobTicket, Ledger
from dicom_node.query import QueryError, QueryRetrieve, query_retrieve
from dicom_node.query.priors import Prior, fetch_priors
from dicom_node.routing.conditions import parse_condition
from dicom_node.storage import Storage, safe_name
from inference.study_context import PRIORS_DIR

QUERY_EVENT = "priors-query"


class _Recorded:
    """The archive's query/retrieve with each C-FIND answered recorded in the job's timeline."""

    def __init__(self, qr: QueryRetrieve, ledger: Ledger, job_id: int, archive: str) -> None:
        self.qr, self.ledger, self.job_id, self.archive = qr, ledger, job_id, archive

    def _record(self, what: str, found: list[Dataset]) -> list[Dataset]:
        message = f"C-FIND on {self.archive}: {what}: {len(found)} found"
        self.ledger.add_event(QUERY_EVENT, message, job_id=self.job_id)
        return found

    def find_studies(self, filters: Mapping[str, str]) -> list[Dataset]:
        dates = filters.get("StudyDate", "")
        return self._record(f"the patient's studies of {dates}", self.qr.find_studies(filters))

    def find_series(self, study_instance_uid: str, filters: Mapping[str, str] | None = None) -> list[Dataset]:
        found = self.qr.find_series(study_instance_uid, filters)
        return self._record(f"series of study {study_instance_uid}", found)

    def find_instances(self, study_instance_uid: str, series_instance_uid: str) -> list[Dataset]:
        return self.qr.find_instances(study_instance_uid, series_instance_uid)

    def retrieve_series(self, study_instance_uid: str, series_instance_uid: str, folder: Path) -> list[Path]:
        return self.qr.retrieve_series(study_instance_uid, series_instance_uid, folder)


def link_priors(
    config: Config,
    ledger: Ledger,
    storage: Storage,
    job_id: int,
    ticket: JobTicket,
    files: list[Path],
    context_dir: Path,
) -> list[Prior]:
    if ticket.priors is None or not files:
        return []
    settings = PriorsConfig.model_validate(ticket.priors)
    condition = parse_condition(settings.match if settings.match is not None else ticket.rule_match)
    destination = config.destinations.get(settings.archive)
    if destination is None:
        raise PipelineError(f"priors: archive {settings.archive!r} is no longer configured")
    current = dcmread(files[0], stop_before_pixels=True)
    try:
        qr = _Recorded(query_retrieve(destination, config.node.ae_title), ledger, job_id, settings.archive)
        priors = fetch_priors(qr, current, settings, condition, storage.root / PRIORS_DIR)
    except QueryError as exc:
        raise QueryError(f"priors from {settings.archive}: {exc}") from None
    for prior in priors:
        folder = (
            context_dir / PRIORS_DIR / f"{safe_name(prior.study_date)}_{safe_name(prior.series_instance_uid)}"
        )
        for path in sorted(prior.folder.glob("*.dcm")):
            storage.link_or_copy(path, folder / path.name)
        how = "retrieved" if prior.fetched else "already held, not retrieved again"
        kind = "prior-retrieved" if prior.fetched else "prior-held"
        ledger.add_event(
            kind, f"prior of {prior.study_date} ({prior.series_description}): {how}", job_id=job_id
        )
    if not priors:
        ledger.add_event("prior", f"no prior found on {settings.archive}", job_id=job_id)
    return priors
