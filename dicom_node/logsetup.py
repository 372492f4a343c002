"""Structured logging, configured once by the entry point.

One event per line (JSON by default) with study/series UID and job id as fields. A redaction processor
drops any field whose name says it carries patient identity, whatever the caller passed, so PHI never
reaches a log line by accident.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

# Field names that must never be logged (lower-cased, without separators).
_PHI_FIELDS = {
    "patientname",
    "patientid",
    "patientbirthdate",
    "otherpatientids",
    "otherpatientnames",
    "patientaddress",
    "accessionnumber",
    "referringphysicianname",
}


def redact_phi(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace values of PHI-bearing fields."""
    for key in list(event_dict):
        if key.replace("_", "").lower() in _PHI_FIELDS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "info", fmt: str = "json", file: Path | None = None) -> None:
    """Configure structlog and the stdlib root logger (pynetdicom logs through it)."""
    stream = open(file, "a", encoding="utf-8") if file else sys.stderr  # noqa: SIM115 - lives for the process
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_phi,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter('{"logger": "%(name)s", "level": "%(levelname)s", "event": %(message)r}')
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # pynetdicom is chatty at INFO (every PDU); keep its warnings and errors.
    logging.getLogger("pynetdicom").setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
