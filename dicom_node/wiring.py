"""Optional capabilities the node plugs in at start (kept apart so the node core stays small)."""

from __future__ import annotations

from dicom_node.config import Config
from dicom_node.dispatch.executor import ForwardTransform


def forward_transform_for(config: Config) -> ForwardTransform | None:
    """The anonymizing transform for ``anonymize:`` rules, when the anonymizer is available."""
    try:
        from anonymizer.node_route import anonymize_forward
    except ImportError:
        return None
    return anonymize_forward(config)
