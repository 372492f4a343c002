"""The exception tree of dicom-node, in one place.

    DicomNodeError
    ├── ConfigError            a bad configuration key or value (exit code 2, names the key path)
    ├── InputError             a file or folder given by the user is unusable (exit code 2)
    │   └── UnreadableUpload   a file uploaded to the rule tester has no readable header (HTTP 422)
    ├── StorageError           the storage path cannot take the instance
    │   └── StorageFullError   free space is below the floor (C-STORE status 0xA700)
    ├── InvalidDatasetError    the received bytes are not a parseable dataset (status 0xC000-range)
    │   └── MultipartError     a multipart body (STOW-RS request, WADO-RS answer) cannot be parsed
    ├── PipelineError          a pipeline failed or timed out (the job fails with this reason)
    ├── NotFoundError          an operator named a job (or series) the ledger does not hold (HTTP 404)
    ├── JobStateConflict       the job is in a state the operator's action does not apply to (HTTP 409)
    ├── TicketError            a job's ticket in the ledger is not a valid ticket (the job fails)
    ├── ViewerError            the local viewer cannot start (exit code 2)
    └── DeliveryError          a destination refused or failed a C-STORE (retried with back-off)
        ├── AssociationRejectedError   the destination would not associate
        └── QueryError         an archive could not be queried or did not deliver (retried likewise)

Callers map each class to a DICOM status, an HTTP status or an exit code, each interface in one place
(the receiver, ``dicom_node.web.app``, ``dicom_node.cli.main``); nothing else escapes a handler.
"""

from __future__ import annotations


class DicomNodeError(Exception):
    """Base class of every error dicom-node raises on purpose."""


class ConfigError(DicomNodeError):
    """A configuration key or value is invalid; the message names the key path and the reason."""


class InputError(DicomNodeError):
    """A path given by the user is missing or unusable."""


class UnreadableUpload(InputError):
    """The upload is not a DICOM file we can read a header from."""


class StorageError(DicomNodeError):
    """The instance could not be written to the storage path."""


class StorageFullError(StorageError):
    """Free space on the storage path is below the configured floor."""


class InvalidDatasetError(DicomNodeError):
    """The received data is not a DICOM dataset we can parse."""


class MultipartError(InvalidDatasetError):
    """A multipart/related body is malformed (no boundary, a bad part header, not closed)."""


class PipelineError(DicomNodeError):
    """A pipeline raised, produced nothing usable, or exceeded its timeout."""


class NotFoundError(DicomNodeError):
    """A job or series named by id is not in the ledger. ``what`` is ``"<kind> <id>"``."""

    def __init__(self, kind: str, key: object) -> None:
        self.what = f"{kind} {key}"
        super().__init__(f"{self.what}: no such {kind}")


class JobStateConflict(DicomNodeError):
    """The job is in a state the action (retry, discard) does not apply to; the message says which."""


class TicketError(DicomNodeError):
    """A job ticket read from the ledger is not valid JSON or lacks what a job needs."""


class DeliveryError(DicomNodeError):
    """A destination did not accept every object (failure status, abort, timeout)."""


class AssociationRejectedError(DeliveryError):
    """The destination rejected or did not answer the association request."""


class QueryError(DeliveryError):
    """The archive could not be queried or did not deliver what was asked (retried like a delivery)."""


class ViewerError(DicomNodeError):
    """The viewer cannot start: a missing program or site, a busy port, a server that did not come up."""
