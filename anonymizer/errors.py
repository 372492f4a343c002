"""The anonymizer's exceptions, under the project's tree.

DicomNodeError
└── AnonymizationError          the anonymizer cannot do what was asked (bad option, bad key file)
    └── AnonymizationRefused    this object cannot be de-identified safely (e.g. burned-in text)
"""

from __future__ import annotations

from dicom_node.errors import DicomNodeError


class AnonymizationError(DicomNodeError):
    """A configuration or input problem of the anonymizer."""


class AnonymizationRefused(AnonymizationError):
    """The object may carry PHI that no configured rule removes; ``reason`` says why (never PHI)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
