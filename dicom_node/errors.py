"""The exception tree of dicom-node, in one place.

    DicomNodeError
    ├── ConfigError            a bad configuration key or value (exit code 2, names the key path)
    ├── InputError             a file or folder given by the user is unusable (exit code 2)
    ├── StorageError           the storage path cannot take the instance
    │   └── StorageFullError   free space is below the floor (C-STORE status 0xA700)
    ├── InvalidDatasetError    the received bytes are not a parseable dataset (status 0xC000-range)
    ├── PipelineError          a pipeline failed or timed out (the job fails with this reason)
    └── DeliveryError          a destination refused or failed a C-STORE (retried with back-off)
        └── AssociationRejectedError   the destination would not associate

Callers map each class to a DICOM status or an exit code; nothing else escapes a handler.
"""

from __future__ import annotations


class DicomNodeError(Exception):
    """Base class of every error dicom-node raises on purpose."""


class ConfigError(DicomNodeError):
    """A configuration key or value is invalid; the message names the key path and the reason."""


class InputError(DicomNodeError):
    """A path given by the user is missing or unusable."""


class StorageError(DicomNodeError):
    """The instance could not be written to the storage path."""


class StorageFullError(StorageError):
    """Free space on the storage path is below the configured floor."""


class InvalidDatasetError(DicomNodeError):
    """The received data is not a DICOM dataset we can parse."""


class PipelineError(DicomNodeError):
    """A pipeline raised, produced nothing usable, or exceeded its timeout."""


class DeliveryError(DicomNodeError):
    """A destination did not accept every object (failure status, abort, timeout)."""


class AssociationRejectedError(DeliveryError):
    """The destination rejected or did not answer the association request."""
