"""The Celery queue of a job: one per pipeline; forwarding (plain or anonymised) on ``forward``.

Claiming a job and listing the due ones are ledger operations (:mod:`dicom_node.ledger.claim_ops`).
"""

from __future__ import annotations

FORWARD_QUEUE = "forward"


def queue_for(action: str, pipeline: str | None) -> str:
    """The Celery queue of a job with this action and pipeline."""
    return pipeline if action == "pipeline" and pipeline else FORWARD_QUEUE
