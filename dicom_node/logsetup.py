"""Logging: one dialect in every process, configured once by each entry point.

One event per line (a JSON object by default, ``key=value`` with ``logging.format: console``): the
event, ``level``, ``logger``, ``timestamp`` and the event's fields. Two ways in, one way out:

- ``get_logger(name).info("job_done", job_id=7)`` (structlog, the project's own code);
- the standard library (``logging.getLogger(name)``, third-party libraries, and ``warnings.warn``
  through ``logging.captureWarnings``): the message is the event and ``extra={...}`` entries become
  fields.

Both go through the same processors before the line is written: fields bound with :func:`log_context`
(the job id and series UID of the job at hand, in the pipeline child too) are added; a field whose name
says it carries patient identity is replaced by ``[redacted]``; in every text, DICOM person names (a word
holding ``^``, the PN component separator), the header value quoted by pydicom's "Invalid value for VR"
warnings and the values registered with :func:`redact_values` (the identity of the series being
processed) are replaced by ``[redacted]``; a URL's password is masked.

The entry points (``dicom-node`` subcommands, the Celery worker, the pipeline child process) call
:func:`configure_logging`; a child process started by this one gets :func:`current_settings` and calls
:func:`configure_logging` with them, so its lines reach the same stream or file. A log file is created
0640 and appended to by every process of the node, one line per write.

This module is part of the shared surface: it imports nothing else of the project (``.importlinter``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from structlog.stdlib import ExtraAdder, ProcessorFormatter

REDACTED = "[redacted]"

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
# Fields the formatter itself sets: never rewritten.
_OWN_FIELDS = frozenset({"timestamp", "level", "logger"})


def redact_phi(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace values of PHI-bearing fields."""
    for key in list(event_dict):
        if key.replace("_", "").lower() in _PHI_FIELDS:
            event_dict[key] = REDACTED
    return event_dict


# A DICOM person name in free text: a run of non-blank characters holding "^" (PN's component
# separator) and at least one letter ("DOE^JOHN", "Hong^Gildong=洪^吉洞"); a traceback's "^^^^" is kept.
_CARET_WORD = re.compile(r"[^\s'\"\[\](){},;]*\^[^\s'\"\[\](){},;]*")
# pydicom's validation messages quote the header value, whichever attribute it belongs to.
_INVALID_VALUE = re.compile(r"(Invalid value for VR [A-Z]{2}: )'.*'")
_PHI_VALUES: ContextVar[tuple[str, ...]] = ContextVar("dicom_node_phi_values", default=())
_MIN_VALUE_LENGTH = 3  # shorter registered values (initials) would blank unrelated text


def _person_name(match: re.Match[str]) -> str:
    word = match.group(0)
    return REDACTED if any(c.isalpha() for c in word) else word


def redact_text(text: str) -> str:
    """``text`` with DICOM person names and the registered identity values replaced by ``[redacted]``."""
    if "^" in text:
        text = _CARET_WORD.sub(_person_name, text)
    if "Invalid value for VR" in text:
        text = _INVALID_VALUE.sub(rf"\1{REDACTED}", text)
    for value in _PHI_VALUES.get():
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_phi_text(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: :func:`redact_text` on every text value (after exceptions are rendered)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key not in _OWN_FIELDS:
            event_dict[key] = redact_text(value)
    return event_dict


@contextmanager
def redact_values(values: Iterable[object]) -> Iterator[None]:
    """Within the block (this thread or task), these values (a patient's name, ID, birth date...) and the
    components of a person name are replaced by ``[redacted]`` wherever they appear in a log line."""
    words: set[str] = set()
    for value in values:
        text = str(value or "").strip()
        words.add(text)
        words.update(part.strip() for part in re.split(r"[\^=]", text))
    kept = tuple(sorted((w for w in words if len(w) >= _MIN_VALUE_LENGTH), key=len, reverse=True))
    token = _PHI_VALUES.set(_PHI_VALUES.get() + kept)
    try:
        yield
    finally:
        _PHI_VALUES.reset(token)


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


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. ``job_id``, ``series_uid``) to every line logged within the block."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def context_fields() -> dict[str, Any]:
    """The fields :func:`log_context` binds here now (to hand to a child process doing the same work)."""
    return dict(structlog.contextvars.get_contextvars())


@dataclass(frozen=True)
class LogSettings:
    """How this process logs (``logging`` of the node configuration); handed to child processes."""

    level: str = "info"
    format: str = "json"
    file: Path | None = None


_settings: LogSettings | None = None  # what configure_logging set up in this process


def current_settings() -> LogSettings | None:
    """The settings :func:`configure_logging` last applied in this process (None: never called)."""
    return _settings


def _open_log_file(file: Path) -> Any:
    """Append to ``file``, creating it 0640 (logs carry UIDs and hosts, never for every account);
    line-buffered, so that the processes sharing it write whole lines."""
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")


def line_formatter(fmt: str = "json") -> ProcessorFormatter:
    """The one formatter: structlog events and standard-library records alike, PHI redacted."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    foreign: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    return ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            ProcessorFormatter.remove_processors_meta,
            redact_phi,
            structlog.processors.format_exc_info,
            redact_phi_text,
            mask_secrets,
            renderer,
        ],
    )


def configure_logging(level: str = "info", fmt: str = "json", file: Path | None = None) -> None:
    """Configure structlog, the standard-library root logger and ``warnings`` to write one dialect."""
    global _settings
    stream = _open_log_file(file) if file else sys.stderr  # lives for the process
    numeric = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(line_formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # pynetdicom (every PDU), highdicom (every module copied) and (billiard's) multiprocessing (every child
    # started and stopped) are chatty at INFO; keep their warnings. multiprocessing may have been given a
    # handler of its own (billiard does so in a spawned child): it writes through the root's like the rest.
    for chatty in ("pynetdicom", "highdicom", "multiprocessing"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    multiprocessing = logging.getLogger("multiprocessing")
    multiprocessing.handlers.clear()
    multiprocessing.propagate = True
    logging.captureWarnings(True)
    _settings = LogSettings(level, fmt, file)


def configure_child(settings: LogSettings | None) -> None:
    """In a child process: log as the parent does (its settings), or with the defaults to stderr."""
    settings = settings or LogSettings()
    configure_logging(settings.level, settings.format, settings.file)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
