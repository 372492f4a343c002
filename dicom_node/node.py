"""The node: receiver + ingest + completion/routing scheduler + job executor, wired from one Config.

With ``execution.backend: local`` the jobs run in this process's executor threads. With ``celery`` this
process only receives and routes; its scheduler sends each job with work to do to the job's Celery queue
(:class:`~dicom_node.dispatch.celery_dispatch.CeleryDispatcher`) and ``dicom-node worker`` processes run
them. Celery is imported only then.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pydicom import dcmread

from dicom_node.config import Config
from dicom_node.dispatch.executor import AnonymizerHooks, Executor, holder_alive, owner_prefix
from dicom_node.errors import ConfigError
from dicom_node.ingest import Ingestor
from dicom_node.ledger import JobTicket, Ledger, NewJob, SeriesRecord, open_ledger
from dicom_node.logsetup import get_logger
from dicom_node.network.commitment import CommitmentReports
from dicom_node.network.receiver import Receiver
from dicom_node.routing.rules import Rule, compile_rules, evaluate
from dicom_node.routing.studies import StudyRouter
from dicom_node.series.confirm import Confirmer
from dicom_node.storage import Storage

if TYPE_CHECKING:
    from dicom_node.dispatch.celery_dispatch import CeleryDispatcher

log = get_logger("dicom_node.node")


def check_pipelines(config: Config) -> None:
    """Refuse to start with a rule naming a pipeline the registry does not know, or with pipeline params
    that pipeline rejects (checked without loading models): each ``pipelines.<name>.params`` against the
    typed model the pipeline declares in the registry, an unknown or badly typed key named by its path
    (``pipelines.fmri.params.tr_sconds: unknown parameter of pipeline fmri``). The params then hold the
    validated values (the keys given, typed): what the pipeline process receives."""
    from inference.registry import check_params, names  # light: no torch at import

    known = set(names())
    named = [(f"rules[{i}]", r.name, r.pipeline) for i, r in enumerate(config.rules)]
    named += [(f"study_rules[{i}]", r.name, r.pipeline) for i, r in enumerate(config.study_rules)]
    for where, rule_name, pipeline in named:
        if pipeline and pipeline not in known:
            raise ConfigError(
                f"invalid configuration: {where} ({rule_name}).pipeline: unknown pipeline "
                f"{pipeline!r}; known: {', '.join(sorted(known))}"
            )
    for name, settings in config.pipelines.items():
        if name not in known:
            raise ConfigError(f"invalid configuration: pipelines.{name}: unknown pipeline")
        settings.params = check_params(name, settings.params).model_dump(mode="json", exclude_unset=True)


def job_ticket(config: Config, series: SeriesRecord, rule: Rule, reason: str) -> JobTicket:
    """A snapshot of why and how a job runs (what an administrator reads to understand it)."""
    return JobTicket(
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid,
        revision=series.revision,
        rule=rule.config.model_dump(mode="json"),
        reason=reason,
        pipeline=rule.config.pipeline,
        anonymize=rule.config.anonymize,
        deidentify=rule.config.deidentify,
        send_to=list(rule.config.send_to),
        destinations={
            name: config.destinations[name].model_dump(mode="json", exclude={"tls"})
            for name in rule.config.send_to
        },
    )


class Node:
    def __init__(self, config: Config, anonymizer: AnonymizerHooks | None = None) -> None:
        check_pipelines(config)
        if anonymizer is None:
            from dicom_node.wiring import anonymizer_hooks

            anonymizer = anonymizer_hooks(config)
        for i, rule in enumerate(config.rules):
            if (rule.anonymize or rule.deidentify) and anonymizer is None:
                raise ConfigError(
                    f"invalid configuration: rules[{i}] ({rule.name}): "
                    "anonymize/deidentify need the anonymizer, which is not installed"
                )
        self.config = config
        self.rules = compile_rules(config.rules)
        self.storage = Storage(config.storage.path, config.storage.min_free_gb, config.storage.fsync)
        self.ledger: Ledger = open_ledger(config.storage.database_url, config.series.late_instances)
        self.executor = Executor(config, self.storage, self.ledger, anonymizer)
        self.dispatcher: CeleryDispatcher | None = None
        if config.execution.backend == "celery":
            from dicom_node.dispatch.celery_dispatch import CeleryDispatcher

            self.dispatcher = CeleryDispatcher(config, self.ledger)
        self._route_now = threading.Event()
        self.ingestor = Ingestor(self.storage, self.ledger, on_complete=self._route_now.set)
        self.commitment_reports = CommitmentReports(self.ledger, wake=self.executor.wake)
        self.receiver = Receiver(config.node, self.storage, self.ingestor, self.commitment_reports.handle)
        self.confirmer = Confirmer(config, self.ledger, on_complete=self._route_now.set)
        self.study_router = StudyRouter(config, self.ledger, self.storage)
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self.port: int | None = None

    def start(
        self, receive: bool = True, work: bool = True, schedule: bool = True, listen_fd: int | None = None
    ) -> None:
        """Start receiving, working and scheduling.

        ``schedule=False`` with ``listen_fd``: an extra receiver process of another node process (see
        :mod:`dicom_node.network.receiver_processes`): it only receives, on that node's socket.
        """
        local = self.config.execution.backend == "local"
        if schedule:  # an extra receiver starts while its node writes: leave the temp files to the node
            removed = self.storage.remove_stale_temp_files()
            if work and local:
                recovered = self.ledger.recover_leases(owner_prefix(self.storage), holder_alive)
                if recovered or removed:
                    log.info("recovered_after_restart", jobs=recovered, temp_files_removed=removed)
        if receive:
            self.port = self.receiver.start(listen_fd)
        if work and local:
            self.executor.start()
        if schedule:
            self._scheduler = threading.Thread(target=self._schedule, name="scheduler", daemon=True)
            self._scheduler.start()
            self.confirmer.start()
        log.info(
            "node_started",
            ae_title=self.config.node.ae_title,
            port=self.port,
            rules=len(self.rules),
            backend=self.config.execution.backend,
            local_workers=self.config.execution.workers if work and local else 0,
        )

    def stop(self) -> None:
        self._stop.set()
        self._route_now.set()
        self.receiver.stop()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        self.confirmer.stop()
        self.executor.stop()
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.ingestor.close()
        log.info("node_stopped")

    # -- completion and routing -----------------------------------------------------------------
    def _schedule(self) -> None:
        interval = self.config.series.check_interval_s
        while not self._stop.is_set():
            try:
                self.ledger.complete_quiet_series(
                    self.config.series.complete_after_s, exclude_aes=self.confirmer.calling_aes
                )
                if self.route_complete_series() + self.study_router.run():
                    self.executor.wake()
                self.ledger.recover_leases()  # expired leases of any holder
                if self.dispatcher is not None:
                    self.dispatcher.enqueue_due()
            except Exception as exc:  # keep scheduling; the ledger may be briefly unavailable
                log.error("scheduler_error", error=str(exc), exc_info=True)
            self._route_now.wait(interval)
            self._route_now.clear()

    def route_complete_series(self) -> int:
        routed = 0
        for series in self.ledger.complete_unrouted():
            bound = log.bind(series_uid=series.series_instance_uid, revision=series.revision)
            try:
                header = dcmread(self.storage.absolute(series.sample_path), stop_before_pixels=True)
            except Exception as exc:
                bound.error("route_unreadable_sample", error=str(exc))
                self.ledger.route_series(series.id, [], f"not routed: sample instance unreadable ({exc})")
                continue
            decisions = evaluate(self.rules, header)
            jobs = [
                NewJob(
                    rule_name=d.rule.name,
                    action=d.rule.action,
                    pipeline=d.rule.config.pipeline,
                    ticket=job_ticket(self.config, series, d.rule, d.reason),
                )
                for d in decisions
                if d.fired
            ]
            fired = [d.rule.name for d in decisions if d.fired]
            summary = f"rules fired: {', '.join(fired)}" if fired else "no rule matched"
            created = self.ledger.route_series(series.id, jobs, summary)
            bound.info("series_routed", rules=fired, jobs=created, instances=series.instance_count)
            routed += 1
        return routed
