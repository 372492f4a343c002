"""Optional capabilities the node plugs in at start (kept apart so the node core stays small)."""

from __future__ import annotations

from functools import partial

from dicom_node.config import Config
from dicom_node.dispatch.executor import AnonymizerHooks


def anonymizer_hooks(config: Config) -> AnonymizerHooks | None:
    """The anonymizer's route functions (``anonymize:`` and ``deidentify:`` rules), when installed."""
    try:
        from dicom_node.dispatch import anonymize_route
    except ImportError:
        return None
    return AnonymizerHooks(
        forward=anonymize_route.anonymize_forward(config),
        deidentify=partial(anonymize_route.deidentify_inputs, config),
        reidentify=partial(anonymize_route.reidentify_outputs, config),
    )
