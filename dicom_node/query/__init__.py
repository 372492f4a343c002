"""Query/retrieve: find studies and series on an archive and fetch series into a folder.

:class:`~dicom_node.query.base.QueryRetrieve` is the interface; :func:`query_retrieve` picks the
implementation for a destination by its ``type`` (a registry, as for sending). Today: ``dicomweb``
(QIDO-RS and WADO-RS, :mod:`dicom_node.query.dicomweb`). The DIMSE implementation (C-FIND with C-MOVE or
C-GET) belongs behind the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dicom_node.config import AnyDestination
from dicom_node.query.base import QueryError, QueryRetrieve
from dicom_node.query.dicomweb import DicomWebQueryRetrieve

__all__ = ["REGISTRY", "QueryError", "QueryRetrieve", "query_retrieve"]

REGISTRY: dict[str, Callable[[Any], QueryRetrieve]] = {"dicomweb": DicomWebQueryRetrieve}


def query_retrieve(destination: AnyDestination) -> QueryRetrieve:
    """The query/retrieve client for ``destination``; raises :class:`QueryError` for a kind without one."""
    factory = REGISTRY.get(destination.type)
    if factory is None:
        raise QueryError(f"no query/retrieve for {destination.type} destinations yet")
    return factory(destination)
