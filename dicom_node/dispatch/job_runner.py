"""One leased job moved on one step — shared by the local executor threads and the Celery task.

``running``: snapshot the series revision (hard links), then produce the objects to send — the
pipeline's outputs, or the originals (anonymised when the rule says so) — and register one delivery per
(destination, output SOP Instance UID): ``→ produced``. Outputs that show the source images (a
pipeline's photograph summary) are registered only for the destination that is the series' source PACS
and withheld, with an event, for the others (:mod:`dicom_node.dispatch.photo_containment`).
``sending``: send each destination what it has not accepted yet (deliveries still ``pending``); all
accepted ``→ delivered``; otherwise back off (exponential, jittered, capped) and try again, up to
``dispatch.max_attempts``, then ``failed`` with the reason. An object a destination accepted is never
sent again, whichever worker (thread, process or machine) resumes the job.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread

from dicom_node.config import Config
from dicom_node.dispatch.backoff import backoff_delay
from dicom_node.dispatch.commitment import Commitments
from dicom_node.dispatch.photo_containment import (
    never_source_destinations,
    plan_deliveries,
    source_pixel_classes,
    stands_for,
)
from dicom_node.dispatch.pipeline_cache import link_pipeline_cache
from dicom_node.dispatch.pipeline_process import PipelineOutput, PipelineProcess
from dicom_node.dispatch.priors_step import link_priors
from dicom_node.dispatch.study_context import collect_study_context, study_context_dir
from dicom_node.dispatch.study_series import link_study_series, study_series_files
from dicom_node.dispatch.targets import Outgoing, send
from dicom_node.errors import DeliveryError, DicomNodeError, PipelineError, TicketError
from dicom_node.ledger import DeliveryRecord, JobRecord, JobTicket, Ledger, StoredInstance
from dicom_node.logsetup import get_logger, log_context
from dicom_node.query import QueryError
from dicom_node.storage import Storage

log = get_logger("dicom_node.executor")

# (the ticket as stored, input files, output folder) -> anonymised files
ForwardTransform = Callable[[dict[str, Any], list[Path], Path], list[Path]]


@dataclass(frozen=True)
class Produced:
    """What a job produced: (path, SOP Instance UID, SOP Class UID) per object, and the calling AE titles
    of the associations that brought the series revision (who the source PACS is)."""

    outputs: list[tuple[Path, str, str]]
    calling_aets: frozenset[str]


@dataclass(frozen=True)
class AnonymizerHooks:
    """What the executor needs from the anonymizer (kept as callables so the core stays small).

    ``forward(ticket, files, out_dir)`` anonymises originals for ``anonymize:`` rules;
    ``deidentify(profile, files, out_dir)`` pseudonymises a pipeline's input for ``deidentify:`` rules and
    ``reidentify(profile, outputs)`` rewrites the pipeline's results under the original identity.
    """

    forward: ForwardTransform
    deidentify: Callable[[str, list[Path], Path], list[Path]]
    reidentify: Callable[[str, list[Path]], None]


class JobRunner:
    """Processes a job its caller has leased: :meth:`process` runs one step (produce, or deliver).

    Keeps per-destination cool-down state (one association per back-off after a refused association),
    so one runner is meant to live as long as its worker.
    """

    def __init__(
        self,
        config: Config,
        storage: Storage,
        ledger: Ledger,
        anonymizer: AnonymizerHooks | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.ledger = ledger
        self.anonymizer = anonymizer
        # destination -> monotonic time before which no new association is tried, and failures in a row
        self._cooldown: dict[str, float] = {}
        self._destination_failures: dict[str, int] = {}
        self._gate = threading.Lock()  # worker threads share the cool-down state
        self.commitments = Commitments(config, ledger)
        for rule, destination in never_source_destinations(config):
            log.warning(
                "source_images_never_delivered",
                rule=rule,
                destination=destination,
                reason="the rule's pipeline shows the source images, which go only to the source PACS; "
                "none of the destination's AE titles (ae_title, source_aets) is in node.allowed_calling_aets",
            )

    def process_safely(self, job: JobRecord, owner: str, pipelines: PipelineProcess) -> None:
        """:meth:`process`, with an unexpected error failing the job instead of the worker; every line
        logged meanwhile (the pipeline child's too) carries the job id and series UID."""
        try:
            series_uid: str | None = job.read_ticket().series_instance_uid
        except TicketError:  # process() fails the job, saying why
            series_uid = None
        with log_context(job_id=job.id, series_uid=series_uid):
            try:
                self.process(job, owner, pipelines)
            except Exception as exc:
                log.error("job_crashed", job_id=job.id, error=str(exc), exc_info=True)
                self.ledger.job_failed(job.id, owner, f"internal error: {exc}")

    def process(self, job: JobRecord, owner: str, pipelines: PipelineProcess) -> None:
        """Move a leased job on: ``running`` → produce; ``sending`` → deliver what is pending."""
        try:
            ticket = job.read_ticket()
        except TicketError as exc:  # nothing sensible can be done with it: fail the job, saying why
            log.error("job_ticket_invalid", job_id=job.id, error=str(exc))
            self.ledger.job_failed(job.id, owner, str(exc))
            return
        bound = log.bind(
            job_id=job.id,
            rule=job.rule_name,
            series_uid=ticket.series_instance_uid,
            revision=ticket.revision,
        )
        if job.state == "running":
            try:
                produced = self._produce(job, ticket, pipelines)
            except QueryError as exc:  # an archive asked for priors: back off, as for a delivery
                dispatch = self.config.dispatch
                delay = backoff_delay(job.attempts + 1, dispatch.backoff_initial_s, dispatch.backoff_max_s)
                state = self.ledger.job_retry_later(
                    job.id, owner, str(exc), delay, dispatch.max_attempts, state="queued"
                )
                bound.warning("job_query_failed", reason=str(exc), state=state, retry_in_s=round(delay, 1))
                return
            except DicomNodeError as exc:
                bound.warning("job_failed", reason=str(exc))
                self.ledger.job_failed(job.id, owner, str(exc))
                return
            state = self._register(job, owner, ticket, produced, bound)
            bound.info("job_produced", objects=len(produced.outputs), state=state)
            return
        self._deliver(job, owner, bound)

    def _register(self, job: JobRecord, owner: str, ticket: JobTicket, produced: Produced, bound: Any) -> str:
        """One delivery per (destination, output), source images only to the source PACS; → produced."""
        contained = source_pixel_classes(job.pipeline) if job.action == "pipeline" else frozenset()
        plan = plan_deliveries(
            ticket.send_to,
            [(self.storage.relative(path), uid, sop_class) for path, uid, sop_class in produced.outputs],
            self.config.destinations,
            contained,
            produced.calling_aets,
        )
        note = f"{len(produced.outputs)} object(s)"
        for held in plan.withheld:
            destination = self.config.destinations.get(held.destination)
            titles = stands_for(destination) if destination is not None else frozenset()
            self.ledger.add_event("withheld", held.describe(produced.calling_aets, titles), job_id=job.id)
            bound.info(
                "outputs_withheld",
                destination=held.destination,
                objects=held.objects,
                sop_classes=list(held.sop_classes),
                pipeline=job.pipeline,
                calling_aets=sorted(produced.calling_aets),
                destination_stands_for=sorted(titles),
                reason="outputs show the source images; the destination is not the source of the series",
            )
        if plan.withheld:
            withheld = sum(h.objects for h in plan.withheld)
            note += f"; {withheld} withheld (source images go only to the source PACS)"
        return self.ledger.job_produced(job.id, owner, plan.specs, note)

    # -- produce --------------------------------------------------------------------------------
    def _snapshot(
        self, job_id: int, ticket: JobTicket, every_series: bool = False
    ) -> tuple[Path, list[tuple[Path, StoredInstance]]]:
        """Link the series revision (or every matched series) into the job's ``input/``."""
        input_dir = self.storage.job_dir(job_id) / "input"
        if input_dir.exists():
            shutil.rmtree(input_dir)
        linked: list[tuple[Path, StoredInstance]] = []
        stored = (
            study_series_files(self.ledger, ticket)
            if every_series
            else self.ledger.series_files(ticket.series_instance_uid, ticket.revision)
        )
        for instance in stored:
            target = input_dir / Path(instance.path).name
            self.storage.link_or_copy(self.storage.absolute(instance.path), target)
            linked.append((target, instance))
        return input_dir, linked

    def _produce(self, job: JobRecord, ticket: JobTicket, pipelines: PipelineProcess) -> Produced:
        # a study rule forwards every matched series; its pipeline gets the others as study context
        every_series = ticket.study_series is not None and job.action != "pipeline"
        input_dir, linked = self._snapshot(job.id, ticket, every_series)
        files = [path for path, _ in linked]
        calling_aets = frozenset((instance.calling_ae or "").strip() for _, instance in linked)
        output_dir = self.storage.job_dir(job.id) / "output"
        if output_dir.exists():
            shutil.rmtree(output_dir)
        profile = ticket.deidentify or ticket.anonymize
        if profile and self.anonymizer is None:
            raise PipelineError(
                f"rule needs anonymizer profile {profile!r} but the anonymizer is not available"
            )
        if job.action == "pipeline":
            # PR/SEG objects of the same study that refer to this series (e.g. a GSPS outline sent as its
            # own series) are linked into <job>/context/ for pipelines that use a region of interest.
            collect_study_context(
                self.ledger,
                self.storage,
                ticket.series_instance_uid,
                ticket.study_instance_uid,
                study_context_dir(input_dir),
            )
            link_study_series(self.ledger, self.storage, ticket, study_context_dir(input_dir))
            link_priors(
                self.config, self.ledger, self.storage, job.id, ticket, files, study_context_dir(input_dir)
            )
            # context/cache/: the pipeline's folder that outlives the job (measurements per series)
            link_pipeline_cache(self.storage, job.pipeline or "", study_context_dir(input_dir))
            return Produced(
                self._run_pipeline(job, ticket, input_dir, files, output_dir, pipelines), calling_aets
            )
        if ticket.anonymize and self.anonymizer is not None:
            paths = self.anonymizer.forward(ticket.model_dump(mode="json"), files, output_dir)
            return Produced([_identify(path) for path in paths], calling_aets)
        originals = [(path, instance.sop_instance_uid, instance.sop_class_uid) for path, instance in linked]
        return Produced(originals, calling_aets)

    def _run_pipeline(
        self,
        job: JobRecord,
        ticket: JobTicket,
        input_dir: Path,
        files: list[Path],
        output_dir: Path,
        pipelines: PipelineProcess,
    ) -> list[tuple[Path, str, str]]:
        """Run the job's pipeline (on pseudonymised input for ``deidentify:`` rules); what it wrote, as
        the pipeline child reported it (the files are not opened again), each checked to exist."""
        name = job.pipeline or ""
        settings = self.config.pipelines.get(name)
        payload = settings.model_dump(mode="json") if settings else {}
        timeout = settings.timeout_s if settings else 1800.0
        outputs: list[PipelineOutput]
        if ticket.deidentify and self.anonymizer is not None:
            pseudonymised = self.storage.job_dir(job.id) / "deidentified"
            if pseudonymised.exists():
                shutil.rmtree(pseudonymised)
            self.anonymizer.deidentify(ticket.deidentify, files, pseudonymised)
            outputs = pipelines.run(name, pseudonymised, output_dir, payload, timeout)
            # the outputs' own UIDs are new ones, which re-identification leaves as they are
            self.anonymizer.reidentify(ticket.deidentify, [o.path for o in outputs])
        else:
            outputs = pipelines.run(name, input_dir, output_dir, payload, timeout)
        for output in outputs:
            if not output.path.is_file():
                raise PipelineError(f"pipeline {name!r}: output {output.path.name} is missing")
        return [(o.path, o.sop_instance_uid, o.sop_class_uid) for o in outputs]

    # -- deliver --------------------------------------------------------------------------------
    def _may_associate(self, name: str, timeout_s: float) -> float:
        """0 when this thread may open an association to ``name`` now, else the seconds to wait.

        While a destination is failing, one thread at a time probes it: the probe holds the cool-down
        for up to the association's timeouts, so other worker threads defer instead of all trying at once.
        """
        with self._gate:
            now = time.monotonic()
            remaining = self._cooldown.get(name, 0.0) - now
            if remaining > 0:
                return remaining
            if self._destination_failures.get(name):
                self._cooldown[name] = now + 3 * timeout_s  # replaced by the probe's outcome
            return 0.0

    def _deliver(self, job: JobRecord, owner: str, bound: Any) -> None:
        round_started = time.time()
        pending = self.ledger.pending_deliveries(job.id)
        by_destination: dict[str, list[DeliveryRecord]] = defaultdict(list)
        for delivery in pending:
            by_destination[delivery.destination].append(delivery)
        problems: list[str] = []
        waiting = 0.0  # > 0 when a destination is cooling down after a failed association
        attempted = False
        dispatch = self.config.dispatch
        for name, rows in by_destination.items():
            destination = self.config.destinations.get(name)
            if destination is None:
                problems.append(f"{name}: destination no longer configured")
                attempted = True
                continue
            remaining = self._may_associate(name, destination.timeout_s)
            if remaining > 0:  # do not hammer a PACS that just refused us: one association per back-off
                problems.append(f"{name}: waiting {remaining:.0f} s after a failed association")
                waiting = max(waiting, remaining)
                continue
            attempted = True
            objects = [Outgoing(r.id, self.storage.absolute(r.path), r.sop_class_uid) for r in rows]
            # each answer is recorded as it arrives: a crash mid-batch re-sends only the object in flight
            try:
                outcomes = send(
                    destination,
                    self.config.node.ae_title,
                    objects,
                    dispatch.batch_size,
                    on_outcome=lambda o: self.ledger.delivery_result(o.key, o.status, o.error),
                )
            except DeliveryError as exc:
                problems.append(f"{name}: {exc}")
                with self._gate:
                    failures = self._destination_failures.get(name, 0) + 1
                    self._destination_failures[name] = failures
                    pause = backoff_delay(failures, dispatch.backoff_initial_s, dispatch.backoff_max_s)
                    self._cooldown[name] = time.monotonic() + pause
                continue
            with self._gate:
                self._cooldown.pop(name, None)
                self._destination_failures.pop(name, None)
            refused = 0
            for outcome in outcomes:
                if not outcome.accepted:
                    refused += 1
                    last_error = outcome.error
            if refused:
                problems.append(f"{name}: {refused} of {len(objects)} object(s) not accepted ({last_error})")
            bound.info("sent", destination=name, objects=len(objects), refused=refused)
        commit = self.commitments.advance(job.id, round_started, bound)
        problems += commit.problems
        attempted = attempted or bool(commit.problems)  # a refused or unanswered request is an attempt
        if commit.exhausted:
            reason = f"{', '.join(commit.exhausted)}: not committed after {dispatch.max_attempts} sends"
            self.ledger.job_failed(job.id, owner, reason)
            bound.warning("job_failed", reason=reason)
            return
        if not problems and commit.waiting:  # sent; the archive's commitment is not in yet
            delay = 0.0 if commit.due_now else commit.timeout_s
            self._await_commitment(job, owner, commit.describe(), delay, commit.awaiting)
            return
        if not problems:
            self.ledger.job_delivered(job.id, owner)
            bound.info("job_delivered")
            return
        attempt = job.attempts + (1 if attempted else 0)
        delay = max(
            waiting, backoff_delay(max(1, attempt), dispatch.backoff_initial_s, dispatch.backoff_max_s)
        )
        state = self.ledger.job_retry_later(
            job.id, owner, "; ".join(problems), delay, dispatch.max_attempts, count_attempt=attempted
        )
        bound.warning(
            "delivery_incomplete", problems=problems, attempt=attempt, state=state, retry_in_s=round(delay, 1)
        )

    def _await_commitment(self, job: JobRecord, owner: str, reason: str, delay: float, awaiting: int) -> None:
        """Back to ``produced`` until the report (which makes it due) or the timeout; a report that came in
        while this round ran (fewer requests awaited than ``awaiting``) makes it due at once."""
        self.ledger.job_retry_later(
            job.id, owner, reason, delay, self.config.dispatch.max_attempts, count_attempt=False
        )
        if self.ledger.awaiting_commitment_total(job.id) < awaiting:  # a report came in meanwhile
            self.ledger.job_due(job.id)


def _identify(path: Path) -> tuple[Path, str, str]:
    """(path, SOP Instance UID, SOP Class UID) of an object written in this process (anonymised forward)."""
    ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"])
    return path, str(ds.SOPInstanceUID), str(ds.SOPClassUID)
