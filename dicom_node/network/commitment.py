"""Storage Commitment Push Model (PS3.4 Annex J, SOP Class 1.2.840.10008.1.20.1) as the SCU.

:func:`request_commitment` asks an archive (N-ACTION, Action Type 1) to commit to the objects of one
transaction. The archive answers with an N-EVENT-REPORT (Event Type 1: all committed; 2: some failed)
either on the same association or, as Orthanc and most PACS do, on a new association to this node's SCP;
:class:`CommitmentReports` handles both and records them in the ledger. For the new association the
archive must know this node (AE title = the destination's ``calling_ae_title`` or ``node.ae_title``, with
the node's host and port) and, when ``node.allowed_calling_aets`` is set, be in that list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StorageCommitmentPushModel,
    StorageCommitmentPushModelInstance,
)

from dicom_node.config import DestinationConfig
from dicom_node.errors import AssociationRejectedError, DeliveryError
from dicom_node.ledger import Ledger
from dicom_node.logsetup import get_logger
from dicom_node.network.tcp import no_delay_on_open
from dicom_node.network.tls import client_context

log = get_logger("dicom_node.commitment")

REQUEST_COMMITMENT = 1  # Action Type ID (PS3.4 J.3.2)
SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112


class CommitmentReports:
    """Records N-EVENT-REPORTs of Storage Commitment in the ledger (a pynetdicom event handler)."""

    def __init__(self, ledger: Ledger, wake: Callable[[], None] = lambda: None) -> None:
        self.ledger = ledger
        self.wake = wake

    def handle(self, event: Event) -> tuple[int, Dataset | None]:
        """``EVT_N_EVENT_REPORT``: (status, no reply dataset)."""
        request = event.request
        if str(request.AffectedSOPClassUID) != StorageCommitmentPushModel:
            return NO_SUCH_OBJECT_INSTANCE, None
        try:
            info = event.event_information
            transaction = str(info.TransactionUID)
            committed = [str(i.ReferencedSOPInstanceUID) for i in info.get("ReferencedSOPSequence", [])]
            failed = [
                (str(i.ReferencedSOPInstanceUID), int(i.get("FailureReason", PROCESSING_FAILURE)))
                for i in info.get("FailedSOPSequence", [])
            ]
            done, refused = self.ledger.commitment_report(transaction, committed, failed)
        except Exception as exc:  # a malformed report or a ledger hiccup: the archive may send it again
            log.error("commitment_report_failed", error=str(exc), exc_info=True)
            return PROCESSING_FAILURE, None
        log.info(
            "commitment_report",
            transaction_uid=transaction,
            committed=done,
            failed=refused,
            calling_ae=str(event.assoc.requestor.ae_title).strip(),
        )
        self.wake()
        return SUCCESS, None


def request_commitment(
    destination: DestinationConfig,
    calling_ae: str,
    transaction_uid: str,
    objects: Sequence[tuple[str, str]],
    reports: CommitmentReports | None = None,
) -> None:
    """N-ACTION for ``objects`` (SOP Class UID, SOP Instance UID); raises :class:`DeliveryError`."""
    ae = AE(ae_title=destination.calling_ae_title or calling_ae)
    ae.add_requested_context(StorageCommitmentPushModel)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = destination.timeout_s
    tls_args = (client_context(destination.tls), destination.host) if destination.tls else None
    handlers: list[Any] = [(evt.EVT_CONN_OPEN, no_delay_on_open)]
    if reports is not None:  # a report on this association (Orthanc uses a new one)
        handlers.append((evt.EVT_N_EVENT_REPORT, reports.handle))
    assoc = ae.associate(
        destination.host,
        destination.port,
        ae_title=destination.ae_title,
        tls_args=tls_args,
        evt_handlers=handlers,
    )
    if not assoc.is_established:
        raise AssociationRejectedError(
            f"storage commitment association with {destination.ae_title}@{destination.host}:"
            f"{destination.port} failed"
        )
    request = Dataset()
    request.TransactionUID = transaction_uid
    items = []
    for sop_class, sop_instance in objects:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    request.ReferencedSOPSequence = items
    try:
        status, _ = assoc.send_n_action(
            request, REQUEST_COMMITMENT, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
        )
    except (ValueError, RuntimeError) as exc:  # e.g. the archive accepted no Storage Commitment context
        raise DeliveryError(f"storage commitment request to {destination.ae_title} failed: {exc}") from None
    finally:
        if assoc.is_established:
            assoc.release()
    code = int(status.Status) if status is not None and "Status" in status else None
    if code != SUCCESS:
        answer = "no answer" if code is None else f"status 0x{code:04X}"
        raise DeliveryError(f"storage commitment request to {destination.ae_title} refused ({answer})")
