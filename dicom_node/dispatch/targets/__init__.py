"""The destination kinds the dispatcher can deliver to, by ``type`` (a registry, not a chain of ifs).

Every kind sends a list of :class:`~dicom_node.network.sender.Outgoing` objects and reports one
:class:`~dicom_node.network.sender.SendOutcome` per object through ``on_outcome`` as soon as it is known,
so the job runner records each delivery the same way whatever the transport; a destination that cannot be
reached at all raises :class:`~dicom_node.errors.DeliveryError` (the runner then cools it down).

=========  ==========================================================================================
dimse      C-STORE (:mod:`dicom_node.network.sender`)
dicomweb   STOW-RS (:mod:`dicom_node.dispatch.targets.dicomweb`)
=========  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dicom_node.config import AnyDestination
from dicom_node.dispatch.targets import dicomweb
from dicom_node.network import sender
from dicom_node.network.sender import OutcomeCallback, Outgoing, SendOutcome

__all__ = ["Outgoing", "SendOutcome", "send"]

Sender = Callable[[Any, str, list[Outgoing], int, OutcomeCallback | None], list[SendOutcome]]

REGISTRY: dict[str, Sender] = {"dimse": sender.send, "dicomweb": dicomweb.send}


def send(
    destination: AnyDestination,
    calling_ae: str,
    objects: list[Outgoing],
    batch_size: int = 200,
    on_outcome: OutcomeCallback | None = None,
) -> list[SendOutcome]:
    """Deliver ``objects`` to ``destination`` with the sender registered for its ``type``."""
    return REGISTRY[destination.type](destination, calling_ae, objects, batch_size, on_outcome)
