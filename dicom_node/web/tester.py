"""The rule tester: how the configured rules decide for one uploaded DICOM file."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pydicom import dcmread

from dicom_node.errors import UnreadableUpload
from dicom_node.routing.rules import Rule, evaluate
from dicom_node.web.phi import HIDDEN, phi_values, scrub

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def run_rule_test(rules: list[Rule], data: bytes, show_phi: bool) -> dict[str, Any]:
    """One decision per rule with the reason (the compared value shown, PHI hidden unless allowed)."""
    if not data:
        raise UnreadableUpload("empty upload")
    try:
        header = dcmread(BytesIO(data), stop_before_pixels=True)
    except Exception as exc:  # untrusted bytes: any parser failure is the uploader's problem, not a 500
        raise UnreadableUpload(f"not a readable DICOM file ({type(exc).__name__})") from None
    hidden = [] if show_phi else phi_values(header)
    try:
        decisions = evaluate(rules, header)
    except Exception as exc:  # odd values in a crafted header must not become a 500
        raise UnreadableUpload(f"header cannot be evaluated ({type(exc).__name__})") from None
    return {
        "header": {
            "modality": str(header.get("Modality", "") or ""),
            "series_description": scrub(str(header.get("SeriesDescription", "") or ""), hidden),
            "sop_class_uid": str(header.get("SOPClassUID", "") or ""),
            "series_instance_uid": str(header.get("SeriesInstanceUID", "") or ""),
        },
        "phi_hidden": not show_phi,
        "decisions": [
            {
                "rule": d.rule.name,
                "matched": d.matched,
                "fired": d.fired,
                "action": d.rule.action,
                "pipeline": d.rule.config.pipeline,
                "send_to": list(d.rule.config.send_to),
                "reason": scrub(d.reason, hidden),
            }
            for d in decisions
        ],
    }


__all__ = ["HIDDEN", "MAX_UPLOAD_BYTES", "UnreadableUpload", "run_rule_test"]
