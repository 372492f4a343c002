"""The C-STORE SCU: one association per batch, a status per object.

Files are sent as stored (no decode) when the destination accepts their transfer syntax; otherwise a
compressed object is decompressed and sent in an uncompressed syntax the destination accepted. The caller
gets one :class:`SendOutcome` per object — a failure status is a failure like any exception, so the
dispatcher retries exactly the objects that were not accepted. ``on_outcome`` is called as soon as each
object's answer arrives, so the caller can record it before the next object goes out (a crash mid-batch
then re-sends at most the one object in flight).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydicom import dcmread
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.presentation import PresentationContext, build_context

from dicom_node.config import DestinationConfig
from dicom_node.errors import AssociationRejectedError
from dicom_node.logsetup import get_logger
from dicom_node.network.tcp import no_delay_on_open
from dicom_node.network.tls import client_context

log = get_logger("dicom_node.sender")

MAX_CONTEXTS = 128
_UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

OutcomeCallback = Callable[["SendOutcome"], None]


@dataclass(frozen=True)
class Outgoing:
    key: int
    path: Path
    sop_class_uid: str = ""  # read from the file meta when empty


@dataclass(frozen=True)
class SendOutcome:
    key: int
    status: int | None  # None: not attempted or no response (association lost)
    error: str | None

    @property
    def accepted(self) -> bool:
        return self.status is not None and (self.status == 0 or (self.status & 0xF000) == 0xB000)


def _contexts(items: list[tuple[Outgoing, str]]) -> list[PresentationContext]:
    syntaxes: dict[str, list[str]] = defaultdict(list)
    for item, ts in items:
        for uid in [ts, *_UNCOMPRESSED]:
            if uid and uid not in syntaxes[item.sop_class_uid]:
                syntaxes[item.sop_class_uid].append(uid)
    return [build_context(sop, ts_list) for sop, ts_list in syntaxes.items()]


def _chunks(items: list[tuple[Outgoing, str]], batch_size: int) -> list[list[tuple[Outgoing, str]]]:
    """Split into batches of at most ``batch_size`` objects and MAX_CONTEXTS SOP classes."""
    batches: list[list[tuple[Outgoing, str]]] = []
    current: list[tuple[Outgoing, str]] = []
    classes: set[str] = set()
    for item in items:
        new_class = item[0].sop_class_uid not in classes
        if current and (len(current) >= batch_size or (new_class and len(classes) >= MAX_CONTEXTS)):
            batches.append(current)
            current, classes = [], set()
        current.append(item)
        classes.add(item[0].sop_class_uid)
    if current:
        batches.append(current)
    return batches


def send(
    destination: DestinationConfig,
    calling_ae: str,
    objects: list[Outgoing],
    batch_size: int = 200,
    on_outcome: OutcomeCallback | None = None,
) -> list[SendOutcome]:
    """Send ``objects``; raises :class:`AssociationRejectedError` if not even one association opened."""
    prepared: list[tuple[Outgoing, str]] = []
    outcomes: list[SendOutcome] = []

    def record(outcome: SendOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for obj in objects:
        try:
            meta = read_file_meta_info(obj.path)
            sop_class = obj.sop_class_uid or str(meta.get("MediaStorageSOPClassUID", ""))
            prepared.append((replace(obj, sop_class_uid=sop_class), str(meta.get("TransferSyntaxUID", ""))))
        except (OSError, ValueError) as exc:
            record(SendOutcome(obj.key, None, f"cannot read output file: {exc}"))
    for batch in _chunks(prepared, batch_size):
        _send_batch(destination, calling_ae, batch, record)
    return outcomes


def _send_batch(
    destination: DestinationConfig,
    calling_ae: str,
    batch: list[tuple[Outgoing, str]],
    record: OutcomeCallback,
) -> None:
    ae = AE(ae_title=destination.calling_ae_title or calling_ae)
    ae.requested_contexts = _contexts(batch)
    ae.acse_timeout = destination.timeout_s
    ae.dimse_timeout = destination.timeout_s
    ae.network_timeout = destination.timeout_s
    tls_args = (client_context(destination.tls), destination.host) if destination.tls else None
    assoc = ae.associate(
        destination.host,
        destination.port,
        ae_title=destination.ae_title,
        tls_args=tls_args,
        evt_handlers=[(evt.EVT_CONN_OPEN, no_delay_on_open)],
    )
    if not assoc.is_established:
        reason = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "no answer"
        raise AssociationRejectedError(
            f"association with {destination.ae_title}@{destination.host}:{destination.port} failed ({reason})"
        )
    try:
        for obj, ts in batch:
            if not assoc.is_established:
                record(SendOutcome(obj.key, None, "association lost"))
                continue
            record(_send_one(assoc, obj, ts))
    finally:
        if assoc.is_established:
            assoc.release()


def _send_one(assoc: object, obj: Outgoing, ts: str) -> SendOutcome:
    accepted = {
        (cx.abstract_syntax, cx.transfer_syntax[0])
        for cx in assoc.accepted_contexts  # type: ignore[attr-defined]
    }
    try:
        if (obj.sop_class_uid, ts) in accepted or (
            UID(ts) in _UNCOMPRESSED and any((obj.sop_class_uid, u) in accepted for u in _UNCOMPRESSED)
        ):
            rsp = assoc.send_c_store(obj.path)  # type: ignore[attr-defined]
        else:
            ds = dcmread(obj.path)
            if ds.file_meta.TransferSyntaxUID.is_compressed:
                ds.decompress()
            rsp = assoc.send_c_store(ds)  # type: ignore[attr-defined]
    except (ValueError, OSError, RuntimeError, AttributeError) as exc:
        return SendOutcome(obj.key, None, f"cannot send: {exc}")
    if "Status" not in rsp:
        return SendOutcome(obj.key, None, "no response (timeout or abort)")
    status = int(rsp.Status)
    comment = str(rsp.get("ErrorComment", "")) or None
    return SendOutcome(obj.key, status, None if status == 0 else (comment or f"status 0x{status:04X}"))
