"""The ``query`` section of a DIMSE destination that is also an archive to query and retrieve from.

Query/retrieve uses the destination's host, port, AE titles, TLS and ``timeout_s``; a failed query is a
:class:`~dicom_node.query.base.QueryError` and is retried by its caller with the dispatch back-off.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dicom_node.config_types import AETitle, _Strict
from dicom_node.routing.conditions import parse_condition


class QueryConfig(_Strict):
    retrieve: Literal["c-get", "c-move"] = Field(
        default="c-get",
        description="c-get: instances come back on the query's association; c-move: the archive sends them "
        "to move_ae_title, which it must know as this node's host and move_port",
    )
    move_ae_title: AETitle | None = Field(
        default=None, description="C-MOVE destination AE title; default: node.ae_title"
    )
    move_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="c-move: the port the node listens on for the moved instances while a retrieve runs "
        "(the archive knows move_ae_title at this node's host and this port)",
    )
    move_bind: str = Field(default="0.0.0.0", description="c-move: the address to listen on")
    confirm_completion: bool = Field(
        default=False,
        description="series from this archive (its ae_title or source_aets) are complete only once a C-FIND "
        "agrees on the number of instances (or the bounded extra wait is over)",
    )
    confirm_after_s: float = Field(
        default=5.0, gt=0, description="quiet this long: ask the archive how many instances the series has"
    )
    confirm_interval_s: float = Field(default=5.0, gt=0, description="ask again this often while short")
    confirm_max_wait_s: float = Field(
        default=600.0,
        ge=0,
        description="instances still missing this long after the quiet period: complete with what arrived",
    )

    @model_validator(mode="after")
    def _move_port(self) -> QueryConfig:
        if self.retrieve == "c-move" and self.move_port is None:
            raise ValueError("move_port: required with retrieve: c-move")
        return self


class PriorsConfig(_Strict):
    """A pipeline rule's priors: the same patient's earlier studies with a matching series, fetched from
    ``archive`` (a destination with a ``query`` section) into the job's ``context/priors/``."""

    archive: str = Field(description="the destination (with a query section) to ask for priors")
    match: dict[str, Any] | None = Field(
        default=None,
        description="series condition on the archive's series-level C-FIND answer (Modality, "
        "SeriesDescription, SeriesNumber); default: the rule's own match",
    )
    within_years: float = Field(default=5, gt=0, description="studies at most this much older")
    newest: int = Field(default=1, ge=1, le=20, description="the newest K prior studies")

    @field_validator("match")
    @classmethod
    def _parse_match(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            parse_condition(value)
        return value
