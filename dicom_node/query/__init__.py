"""Query/retrieve: find studies and series on an archive and fetch series into a folder.

:class:`~dicom_node.query.base.QueryRetrieve` is the interface; :func:`query_retrieve` picks the
implementation for a destination by its ``type`` (a registry, as for sending): ``dicomweb`` (QIDO-RS and
WADO-RS, :mod:`dicom_node.query.dicomweb`) and ``dimse`` (C-FIND with C-GET or C-MOVE,
:mod:`dicom_node.query.dimse`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dicom_node.config import AnyDestination
from dicom_node.query.base import QueryError, QueryRetrieve, series_instance_count
from dicom_node.query.dicomweb import DicomWebQueryRetrieve
from dicom_node.query.dimse import DimseQueryRetrieve

__all__ = ["REGISTRY", "QueryError", "QueryRetrieve", "query_retrieve", "series_instance_count"]

REGISTRY: dict[str, Callable[[Any, str], QueryRetrieve]] = {
    "dicomweb": lambda destination, _calling_ae: DicomWebQueryRetrieve(destination),
    "dimse": DimseQueryRetrieve,
}


def query_retrieve(destination: AnyDestination, calling_ae: str = "AI_NODE") -> QueryRetrieve:
    """The query/retrieve client for ``destination`` (``calling_ae``: the node's AE title, for DIMSE)."""
    factory = REGISTRY.get(destination.type)
    if factory is None:
        raise QueryError(f"no query/retrieve for {destination.type} destinations")
    return factory(destination, calling_ae)
