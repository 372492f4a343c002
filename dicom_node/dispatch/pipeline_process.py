"""Pipelines run in a child process: a crash or a hang there never takes the node down.

The child writes each output atomically and answers with what it wrote (:class:`PipelineOutput`: path,
SOP Class, SOP Instance and Series Instance UIDs, modality), so the parent never opens the files to learn
them. The child stays alive between jobs, so the pipeline registry's model cache keeps each model loaded once
per worker process. A job that exceeds its timeout gets the child killed (and a fresh one next time); a
child that dies mid-job (segfault, OOM kill) fails that job with the reason, and other jobs go on.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import traceback
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dicom_node.errors import PipelineError
from dicom_node.logsetup import (
    LogSettings,
    configure_child,
    context_fields,
    current_settings,
    log_context,
    redact_values,
)
from dicom_node.parent_watch import exit_with_parent

IDENTITY = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "AccessionNumber")


@dataclass(frozen=True)
class PipelineOutput:
    """One object the pipeline child wrote, as the child reports it."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    modality: str


def _write_outputs(datasets: list[Any], output_dir: Path) -> list[PipelineOutput]:
    from pydicom import dcmwrite

    from dicom_node.storage import write_file_atomic

    output_dir.mkdir(parents=True, exist_ok=True)
    written: list[PipelineOutput] = []
    for ds in datasets:
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        path = output_dir / f"{ds.SOPInstanceUID}.dcm"
        write_file_atomic(path, buffer.getvalue())
        written.append(
            PipelineOutput(
                path=path,
                sop_class_uid=str(ds.SOPClassUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
                modality=str(ds.get("Modality", "") or ""),
            )
        )
    return written


def _received(name: str, payload: Any, output_dir: Path) -> list[PipelineOutput]:
    """The child's list of outputs, checked: each is an existing file in ``output_dir``."""
    if not isinstance(payload, list) or not all(isinstance(o, PipelineOutput) for o in payload):
        raise PipelineError(f"pipeline {name!r} answered with something other than its list of outputs")
    for output in payload:
        if output.path.parent != output_dir or not output.path.is_file():
            raise PipelineError(
                f"pipeline {name!r} reported an output that is not in its folder: {output.path.name}"
            )
    return list(payload)


def _identity(input_dir: Path) -> list[str]:
    """The patient identity of the series in ``input_dir`` (one header), to redact from the child's log."""
    from pydicom import dcmread

    try:
        paths = sorted(p for p in input_dir.iterdir() if p.is_file())
    except OSError:  # no folder: the pipeline says so
        return []
    for path in paths:
        try:
            with warnings.catch_warnings():  # a malformed value is not warned about before it is registered
                warnings.simplefilter("ignore")
                ds = dcmread(path, stop_before_pixels=True, specific_tags=list(IDENTITY))
                return [str(v) for keyword in IDENTITY for v in _values(ds.get(keyword))]
        except Exception:  # not DICOM: try the next file
            continue
    return []


def _values(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]


def _child_main(conn: Connection, log: LogSettings | None = None) -> None:  # pragma: no cover - child
    exit_with_parent()
    configure_child(log)  # the parent's stream or file, its level and format; PHI redacted
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        name, input_dir, output_dir, settings, fields = request
        try:
            from inference.registry import run_pipeline

            with log_context(**fields), redact_values(_identity(Path(input_dir))):
                datasets = run_pipeline(name, Path(input_dir), settings)
            if not datasets:
                raise PipelineError("the pipeline produced no output")
            conn.send(("ok", _write_outputs(datasets, Path(output_dir))))
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            conn.send(("error", detail[:2000]))


class PipelineProcess:
    """One reusable child process; call :meth:`run` from one thread at a time."""

    def __init__(self, context: Any = None) -> None:
        """``context``: a multiprocessing-style context (default: the standard library's ``spawn``).

        Celery's prefork pool processes are daemonic, which the standard library forbids to have
        children; there the worker passes billiard's ``spawn`` context, which allows it.
        """
        self._ctx = context if context is not None else mp.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> Connection:
        if self._process is None or not self._process.is_alive() or self._conn is None:
            parent, child = self._ctx.Pipe()
            self._process = self._ctx.Process(
                target=_child_main, args=(child, current_settings()), daemon=True, name="pipeline"
            )
            self._process.start()
            child.close()
            self._conn = parent
        return self._conn

    def run(
        self, name: str, input_dir: Path, output_dir: Path, settings: dict[str, Any], timeout_s: float
    ) -> list[PipelineOutput]:
        """Run pipeline ``name`` on ``input_dir``; its outputs, written into ``output_dir``."""
        conn = self._ensure()
        conn.send((name, str(input_dir), str(output_dir), settings, context_fields()))
        if not conn.poll(timeout_s):
            self.kill()
            raise PipelineError(f"pipeline {name!r} exceeded its timeout of {timeout_s:g} s and was stopped")
        try:
            status, payload = conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self.kill()
            raise PipelineError(f"pipeline {name!r} process died (exit code {code})") from None
        if status != "ok":
            raise PipelineError(f"pipeline {name!r} failed: {payload}")
        return _received(name, payload, output_dir)

    def kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)
        self._process = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
