"""Structured logging, configured once by the entry point.

One event per line (JSON by default) with study/series UID and job id as fields. A redaction processor
drops any field whose name says it carries patient identity, whatever the caller passed, so PHI never
reaches a log line by accident; another masks the password of any URL in a logged string (database or
broker URLs in driver errors). Records of other libraries (pynetdicom, alembic) go through the same
masking and are written as JSON lines too. A log file is created 0640.
"""

from __future__ import annotations

import json
import logging
import os
import re
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


# scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(r"\1***@", text)


def mask_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask URL passwords in every string value (run after exceptions are rendered)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_url_passwords(value)
    return event_dict


class LineFormatter(logging.Formatter):
    """Standard-library records as one line (a JSON object by default), URL passwords masked."""

    def __init__(self, as_json: bool = True) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if not self.as_json:
            return mask_url_passwords(super().format(record))
        line: dict[str, Any] = {
            "logger": record.name,
            "level": record.levelname.lower(),
            "event": mask_url_passwords(record.getMessage()),
        }
        if record.exc_info:
            line["exception"] = mask_url_passwords(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def _open_log_file(file: Path) -> Any:
    """Append to ``file``, creating it 0640 (logs carry UIDs and hosts, never for every account)."""
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    return os.fdopen(fd, "a", encoding="utf-8")


def configure_logging(level: str = "info", fmt: str = "json", file: Path | None = None) -> None:
    """Configure structlog and the stdlib root logger (pynetdicom logs through it)."""
    stream = _open_log_file(file) if file else sys.stderr  # lives for the process
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
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter(as_json=fmt == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # pynetdicom is chatty at INFO (every PDU); keep its warnings and errors.
    logging.getLogger("pynetdicom").setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
