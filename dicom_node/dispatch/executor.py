"""The local job executor: worker threads that lease jobs from the ledger and move them on.

``queued → running``: snapshot the series revision (hard links), then produce the objects to send —
the pipeline's outputs, or the originals (anonymised when the rule says so) — and register one delivery
per (destination, object): ``→ produced``.
``produced → sending``: send each destination what it has not accepted yet; all accepted
``→ delivered``; otherwise back off (exponential, jittered, capped) and try again, up to
``dispatch.max_attempts``, then ``failed`` with the reason. A crash at any point leaves a lease that
expires (or is taken back at the next start), and the job resumes from its last recorded state.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from sqlalchemy.engine import RowMapping

from dicom_node.config import Config
from dicom_node.dispatch.backoff import backoff_delay
from dicom_node.dispatch.pipeline_process import PipelineProcess
from dicom_node.errors import DeliveryError, DicomNodeError, PipelineError
from dicom_node.ledger import DeliverySpec, Ledger
from dicom_node.logsetup import get_logger
from dicom_node.network.sender import Outgoing, send
from dicom_node.storage import Storage

log = get_logger("dicom_node.executor")

ForwardTransform = Callable[[dict[str, Any], list[Path], Path], list[Path]]


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


def owner_prefix(storage: Storage) -> str:
    """Lease owners of this node start with this (host and storage root): see ``recover_leases``."""
    return f"{socket.gethostname()}:{storage.root}:"


class Executor:
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
        self.owner_base = owner_prefix(storage) + uuid.uuid4().hex[:8]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, str] = {}
        # destination -> monotonic time before which no new association is tried, and failures in a row
        self._cooldown: dict[str, float] = {}
        self._destination_failures: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.config.execution.workers):
            thread = threading.Thread(target=self._loop, args=(i,), name=f"job-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        heartbeat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)
        heartbeat.start()
        self._threads.append(heartbeat)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _heartbeat(self) -> None:
        lease = self.config.execution.lease_s
        while not self._stop.wait(lease / 4):
            with self._lock:
                held = dict(self._running)
            for job_id, owner in held.items():
                self.ledger.renew_lease(job_id, owner, lease)

    def _loop(self, index: int) -> None:
        owner = f"{self.owner_base}:{index}"
        pipelines = PipelineProcess()
        try:
            while not self._stop.is_set():
                try:
                    job = self.ledger.claim_job(owner, self.config.execution.lease_s)
                except Exception as exc:  # database hiccup: log and try again shortly
                    log.error("claim_failed", error=str(exc))
                    job = None
                if job is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                with self._lock:
                    self._running[job["id"]] = owner
                try:
                    self._process(job, owner, pipelines)
                except Exception as exc:  # never let a job kill the worker thread
                    log.error("job_crashed", job_id=job["id"], error=str(exc), exc_info=True)
                    self.ledger.job_failed(job["id"], owner, f"internal error: {exc}")
                finally:
                    with self._lock:
                        self._running.pop(job["id"], None)
        finally:
            pipelines.kill()

    # -- one job --------------------------------------------------------------------------------
    def _process(self, job: RowMapping, owner: str, pipelines: PipelineProcess) -> None:
        ticket = json.loads(job["ticket"])
        bound = log.bind(
            job_id=job["id"],
            rule=job["rule_name"],
            series_uid=ticket.get("series_instance_uid"),
            revision=ticket.get("revision"),
        )
        if job["state"] == "running":
            try:
                outputs = self._produce(job, ticket, pipelines)
            except DicomNodeError as exc:
                bound.warning("job_failed", reason=str(exc))
                self.ledger.job_failed(job["id"], owner, str(exc))
                return
            specs = [
                DeliverySpec(dest, uid, sop_class, self.storage.relative(path))
                for dest in ticket["send_to"]
                for path, uid, sop_class in outputs
            ]
            state = self.ledger.job_produced(job["id"], owner, specs, f"{len(outputs)} object(s)")
            bound.info("job_produced", objects=len(outputs), state=state)
            if state == "produced":
                self.wake()
            return
        self._deliver(job, ticket, owner, bound)

    def _snapshot(self, job_id: int, ticket: dict[str, Any]) -> tuple[Path, list[Path]]:
        input_dir = self.storage.job_dir(job_id) / "input"
        if input_dir.exists():
            shutil.rmtree(input_dir)
        files: list[Path] = []
        for row in self.ledger.series_files(ticket["series_instance_uid"], ticket["revision"]):
            target = input_dir / Path(row["path"]).name
            self.storage.link_or_copy(self.storage.absolute(row["path"]), target)
            files.append(target)
        return input_dir, files

    def _produce(
        self, job: RowMapping, ticket: dict[str, Any], pipelines: PipelineProcess
    ) -> list[tuple[Path, str, str]]:
        input_dir, files = self._snapshot(job["id"], ticket)
        output_dir = self.storage.job_dir(job["id"]) / "output"
        if output_dir.exists():
            shutil.rmtree(output_dir)
        profile = ticket.get("deidentify") or ticket.get("anonymize")
        if profile and self.anonymizer is None:
            raise PipelineError(
                f"rule needs anonymizer profile {profile!r} but the anonymizer is not available"
            )
        if job["action"] == "pipeline":
            settings = self.config.pipelines.get(job["pipeline"])
            payload = settings.model_dump(mode="json") if settings else {}
            timeout = settings.timeout_s if settings else 1800.0
            if ticket.get("deidentify") and self.anonymizer is not None:
                pseudonymised = self.storage.job_dir(job["id"]) / "deidentified"
                if pseudonymised.exists():
                    shutil.rmtree(pseudonymised)
                self.anonymizer.deidentify(ticket["deidentify"], files, pseudonymised)
                paths = pipelines.run(job["pipeline"], pseudonymised, output_dir, payload, timeout)
                self.anonymizer.reidentify(ticket["deidentify"], paths)
            else:
                paths = pipelines.run(job["pipeline"], input_dir, output_dir, payload, timeout)
        elif ticket.get("anonymize") and self.anonymizer is not None:
            paths = self.anonymizer.forward(ticket, files, output_dir)
        else:
            paths = files
        result = []
        for path in paths:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"])
            result.append((path, str(ds.SOPInstanceUID), str(ds.SOPClassUID)))
        return result

    def _deliver(self, job: RowMapping, ticket: dict[str, Any], owner: str, bound: Any) -> None:
        pending = self.ledger.pending_deliveries(job["id"])
        by_destination: dict[str, list[RowMapping]] = defaultdict(list)
        for row in pending:
            by_destination[row["destination"]].append(row)
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
            remaining = self._cooldown.get(name, 0.0) - time.monotonic()
            if remaining > 0:  # do not hammer a PACS that just refused us: one association per back-off
                problems.append(f"{name}: waiting {remaining:.0f} s after a failed association")
                waiting = max(waiting, remaining)
                continue
            attempted = True
            objects = [Outgoing(r["id"], self.storage.absolute(r["path"]), r["sop_class_uid"]) for r in rows]
            try:
                outcomes = send(destination, self.config.node.ae_title, objects, dispatch.batch_size)
            except DeliveryError as exc:
                problems.append(f"{name}: {exc}")
                failures = self._destination_failures.get(name, 0) + 1
                self._destination_failures[name] = failures
                pause = backoff_delay(failures, dispatch.backoff_initial_s, dispatch.backoff_max_s)
                self._cooldown[name] = time.monotonic() + pause
                continue
            self._cooldown.pop(name, None)
            self._destination_failures.pop(name, None)
            refused = 0
            for outcome in outcomes:
                self.ledger.delivery_result(outcome.key, outcome.status, outcome.error)
                if not outcome.accepted:
                    refused += 1
                    last_error = outcome.error
            if refused:
                problems.append(f"{name}: {refused} of {len(objects)} object(s) not accepted ({last_error})")
            bound.info("sent", destination=name, objects=len(objects), refused=refused)
        if not problems:
            self.ledger.job_delivered(job["id"], owner)
            bound.info("job_delivered")
            return
        attempt = int(job["attempts"]) + (1 if attempted else 0)
        delay = max(
            waiting, backoff_delay(max(1, attempt), dispatch.backoff_initial_s, dispatch.backoff_max_s)
        )
        state = self.ledger.job_retry_later(
            job["id"], owner, "; ".join(problems), delay, dispatch.max_attempts, count_attempt=attempted
        )
        bound.warning(
            "delivery_incomplete", problems=problems, attempt=attempt, state=state, retry_in_s=round(delay, 1)
        )
