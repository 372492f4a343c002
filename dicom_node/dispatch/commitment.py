"""The storage-commitment step of a delivery (destinations with ``storage_commitment: true``).

Called by the job runner after each sending round. For every commitment destination of the job: requests
that got no report within ``commitment_timeout_s`` are forgotten (asked again), and count as a failed
attempt of the job, so an archive that never reports fails the job after ``dispatch.max_attempts``;
objects sent in an *earlier* round and not yet asked about are named in one new request (N-ACTION, a new
Transaction UID, recorded before it goes out). Objects sent in this round are asked about in the next
round, which the runner makes due at once: the archive gets a moment to index them, and each round does
one thing. The job is delivered only when every object of these destinations is committed; an object the
archive reports as failed goes back to ``pending`` and is sent again, up to ``dispatch.max_attempts``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import generate_uid

from dicom_node.config import Config, DestinationConfig
from dicom_node.errors import DeliveryError
from dicom_node.ledger import DeliveryRecord, Ledger
from dicom_node.network.commitment import CommitmentReports, request_commitment


@dataclass
class CommitmentRound:
    problems: list[str] = field(default_factory=list)
    unrequested: int = 0  # sent, to be asked about in the next round (due now)
    unsent: int = 0  # reported failed while this round ran: to be sent again (due now)
    awaiting: int = 0  # asked about, report not in yet
    timeout_s: float = 0.0  # the shortest commitment_timeout_s of the destinations awaited
    exhausted: list[str] = field(default_factory=list)  # destinations whose objects were sent too often

    @property
    def waiting(self) -> bool:
        return bool(self.unrequested or self.unsent or self.awaiting)

    @property
    def due_now(self) -> bool:
        return bool(self.unrequested or self.unsent)

    def describe(self) -> str:
        parts = []
        if self.unrequested:
            parts.append(f"{self.unrequested} object(s) sent, storage commitment to be requested")
        if self.unsent:
            parts.append(f"{self.unsent} object(s) not committed by the archive, to be sent again")
        if self.awaiting:
            parts.append(f"{self.awaiting} object(s) awaiting the storage commitment report")
        return "; ".join(parts)


class Commitments:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.reports = CommitmentReports(ledger)

    def destinations(self, job_id: int) -> dict[str, DestinationConfig]:
        names = {row.destination for row in self.ledger.deliveries(job_id)}
        found = {}
        for name in sorted(names):
            destination = self.config.destinations.get(name)
            if isinstance(destination, DestinationConfig) and destination.storage_commitment:
                found[name] = destination
        return found

    def advance(self, job_id: int, round_started: float, bound: Any) -> CommitmentRound:
        result = CommitmentRound()
        timeouts = []
        for name, destination in self.destinations(job_id).items():
            if self.ledger.commitment_overdue(job_id, name, destination.commitment_timeout_s):
                result.problems.append(
                    f"{name}: no storage commitment report within {destination.commitment_timeout_s:g} s"
                )
            rows = self.ledger.deliveries(job_id)
            mine = [r for r in rows if r.destination == name]
            if any(r.state == "pending" and r.attempts >= self.config.dispatch.max_attempts for r in mine):
                result.exhausted.append(name)
                continue
            ask = self.ledger.to_commit(job_id, name, round_started)
            if ask:
                self._request(job_id, name, destination, ask, result, bound)
            asked = {r.id for r in ask}
            result.unrequested += sum(
                1 for r in mine if r.state == "delivered" and r.commitment is None and r.id not in asked
            )
            after = [r for r in self.ledger.deliveries(job_id) if r.destination == name]
            result.unsent += sum(1 for r in after if r.state == "pending")  # a report came back already
            awaiting = self.ledger.awaiting_commitment(job_id, name)
            if awaiting:
                timeouts.append(destination.commitment_timeout_s)
            result.awaiting += awaiting
        result.timeout_s = min(timeouts) if timeouts else 0.0
        return result

    def _request(
        self,
        job_id: int,
        name: str,
        destination: DestinationConfig,
        rows: list[DeliveryRecord],
        result: CommitmentRound,
        bound: Any,
    ) -> None:
        transaction = str(generate_uid())
        self.ledger.commitment_requested([r.id for r in rows], transaction)
        started = time.monotonic()
        try:
            request_commitment(
                destination,
                self.config.node.ae_title,
                transaction,
                [(r.sop_class_uid, r.sop_instance_uid) for r in rows],
                self.reports,
            )
        except DeliveryError as exc:
            self.ledger.commitment_not_requested(transaction)
            result.problems.append(f"{name}: {exc}")
            return
        self.ledger.add_event(
            "commitment", f"{name}: storage commitment requested for {len(rows)} object(s)", job_id=job_id
        )
        bound.info(
            "commitment_requested",
            destination=name,
            objects=len(rows),
            transaction_uid=transaction,
            seconds=round(time.monotonic() - started, 3),
        )
