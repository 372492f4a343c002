"""Operator actions: C-ECHO a destination (retry and discard are ledger operations)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from dicom_node.config import AnyDestination, DicomWebDestinationConfig
from dicom_node.ledger.ledger import DISCARDABLE_STATES
from dicom_node.network.tls import client_context

DISCARDABLE = DISCARDABLE_STATES


@dataclass(frozen=True)
class EchoResult:
    ok: bool
    status: int | None
    message: str
    seconds: float


def echo(destination: AnyDestination, calling_ae: str) -> EchoResult:
    """C-ECHO the destination with the calling AE the node sends results with (DICOMweb: a QIDO-RS query)."""
    started = time.monotonic()
    if isinstance(destination, DicomWebDestinationConfig):
        from dicom_node.dispatch.targets.dicomweb import probe

        ok, message = probe(destination)
        return EchoResult(ok, 0 if ok else None, message, time.monotonic() - started)
    ae = AE(ae_title=destination.calling_ae_title or calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = destination.timeout_s
    tls_args = (client_context(destination.tls), destination.host) if destination.tls else None
    try:
        assoc = ae.associate(
            destination.host, destination.port, ae_title=destination.ae_title, tls_args=tls_args
        )
    except OSError as exc:
        return EchoResult(False, None, f"cannot connect: {exc}", time.monotonic() - started)
    if not assoc.is_established:
        reason = "association rejected" if assoc.is_rejected else "no association (nothing listening?)"
        return EchoResult(False, None, reason, time.monotonic() - started)
    try:
        response = assoc.send_c_echo()
    finally:
        assoc.release()
    code = int(response.Status) if response and "Status" in response else None
    if code == 0:
        return EchoResult(True, 0, "C-ECHO success", time.monotonic() - started)
    message = "no response" if code is None else f"C-ECHO status 0x{code:04X}"
    return EchoResult(False, code, message, time.monotonic() - started)
