"""Batch anonymisation of a folder tree: all cores, progress, resumable, one JSON audit line per file.

A file is "done" when the audit holds a line for it with status ``ok`` or ``refused``; a re-run skips those.
Outputs are written to a temporary name and renamed, so a crash never leaves a half-written file.
Fail closed: every output is checked for residual PHI against its source (:func:`anonymizer.check.
verify_output`) before it is released; an output with a finding is written to the quarantine folder
instead (``<OUT>.quarantine/`` by default, outside the released tree) and reported ``failed`` with the
findings (rule and attribute path, never the value).
The audit never holds PHI values: source and output paths, status, refusal reason, action counts.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from anonymizer.check import check_profile, read_dataset, read_dicom, verify_output
from anonymizer.engine import Anonymizer, IdentityMapping
from anonymizer.errors import AnonymizationRefused
from anonymizer.raw_engine import RawAnonymizer, anonymize_file_bytes
from anonymizer.reidentify import ReidentificationStore
from anonymizer.residual import CheckProfile
from anonymizer.settings import ProfileSettings

Layout = Literal["relative", "patient"]
AUDIT_NAME = "anonymize-audit.jsonl"


@dataclass
class BatchSummary:
    """What a batch run did."""

    total: int = 0
    anonymized: int = 0
    refused: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)

    @property
    def files_per_second(self) -> float:
        processed = self.anonymized + self.refused + self.failed
        return processed / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        acts = " ".join(f"{k}={v}" for k, v in sorted(self.actions.items()))
        return (
            f"{self.anonymized} anonymized, {self.refused} refused, {self.failed} failed, "
            f"{self.skipped} skipped (already done) of {self.total} files in {self.seconds:.1f} s "
            f"({self.files_per_second:.1f} files/s); actions: {acts or 'none'}"
        )


@dataclass(frozen=True)
class _Job:
    profile: ProfileSettings
    key: bytes
    source_root: Path
    output_root: Path
    layout: Layout
    paths: tuple[str, ...]
    record_mappings: bool = True
    quarantine: Path | None = None


def _output_path(job: _Job, relative: str, identity: dict[str, str]) -> Path:
    if job.layout == "relative":
        return job.output_root / relative
    parts = [identity.get(k) or "unknown" for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")]
    return job.output_root.joinpath(*parts, f"{identity.get('SOPInstanceUID') or 'instance'}.dcm")


Engines = tuple[Anonymizer, RawAnonymizer, CheckProfile]


def _process_one(engines: Engines, job: _Job, relative: str) -> tuple[dict[str, Any], list[IdentityMapping]]:
    record: dict[str, Any] = {
        "source": relative,
        "output": None,
        "status": "ok",
        "reason": None,
        "actions": {},
    }
    path = job.source_root / relative
    try:
        data = path.read_bytes()
        result = anonymize_file_bytes(engines[0], engines[1], data, lambda _: read_dicom(path))
        if result is None:
            bare = _bare_dataset(data)
            record.update(status="refused" if bare else "failed", reason=bare or "not a readable DICOM file")
            return record, []
        out = _output_path(job, relative, result.identity)
        findings = verify_output(result.data, data, engines[2], relative)
        if findings:
            aside = _quarantine(job, out)
            _write_atomic(aside, result.data)
            listed = "; ".join(f"{f.rule} at {f.path} {f.attribute}".rstrip() for f in findings[:5])
            record.update(
                status="failed",
                reason=f"residual PHI, not released ({len(findings)} finding(s)): {listed}",
                quarantined=str(aside),
            )
            return record, []
        _write_atomic(out, result.data)
    except AnonymizationRefused as exc:
        record.update(status="refused", reason=exc.reason)
        return record, []
    except Exception as exc:  # one broken file must never stop the batch
        record.update(status="failed", reason=f"{type(exc).__name__}: {str(exc)[:200]}")
        return record, []
    record.update(output=str(out.relative_to(job.output_root)), actions=result.actions)
    if result.masked:
        record["masked_regions"] = result.masked  # [frame (-1: all), x, y, width, height, found by]
    if not job.record_mappings:  # no re-identification store: do not ship the mappings back
        return record, []
    mappings = list(result.mappings)
    pseudo_patient = result.identity.get("PatientID", "")
    if result.date_offset_days is not None and pseudo_patient:
        mappings.append(IdentityMapping("date_offset", pseudo_patient, str(result.date_offset_days)))
    return record, mappings


def _bare_dataset(data: bytes) -> str | None:
    """Why DICOM data without a SOP Class UID is not anonymised (None: it is not DICOM at all)."""
    if data[128:132] != b"DICM" and data[:2] not in (b"\x02\x00", b"\x08\x00"):
        return None  # neither a preamble nor a first element of group 0002 / 0008: not DICOM
    ds = read_dataset(data)
    if ds is None or not len(ds):
        return None
    if "DirectoryRecordSequence" in ds:
        return "a DICOMDIR (media directory) is not anonymised: rebuild it from the anonymised files"
    return "DICOM data without a SOP Class UID (not a composite instance): not anonymised"


def default_quarantine(output: Path) -> Path:
    return output.parent / f"{output.name}.quarantine"


def _quarantine(job: _Job, out: Path) -> Path:
    root = job.quarantine or default_quarantine(job.output_root)
    return root / out.relative_to(job.output_root)


_MADE_DIRS: set[Path] = set()


def _write_atomic(out: Path, data: bytes) -> None:
    """Write to a temporary name beside ``out`` and rename (a crash never leaves half a file)."""
    parent = out.parent
    if parent not in _MADE_DIRS:
        parent.mkdir(parents=True, exist_ok=True)
        if len(_MADE_DIRS) < 100_000:
            _MADE_DIRS.add(parent)
    tmp = f"{parent}/.{out.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:  # the folder went away since we made it (e.g. a re-run after rm -r)
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, out)


_ENGINES: dict[tuple[str, bytes], Engines] = {}


def _engines(profile: ProfileSettings, key: bytes) -> Engines:
    """One engine pair per profile and key in each worker process (the table is resolved once)."""
    cache_key = (profile.model_dump_json(), key)
    engines = _ENGINES.get(cache_key)
    if engines is None:
        anonymizer = Anonymizer.from_settings(profile, key=key)
        engines = _ENGINES[cache_key] = (anonymizer, RawAnonymizer(anonymizer), check_profile(profile))
    return engines


def _run_job(job: _Job) -> list[tuple[dict[str, Any], list[IdentityMapping]]]:
    engines = _engines(job.profile, job.key)
    return [_process_one(engines, job, relative) for relative in job.paths]


def _done_sources(audit: Path) -> set[str]:
    done: set[str] = set()
    if not audit.exists():
        return done
    for line in audit.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if entry.get("status") in ("ok", "refused"):
            done.add(entry["source"])
    return done


def list_files(root: Path, exclude: Path | None = None) -> list[str]:
    """Every file under ``root`` as a sorted POSIX path relative to it (``exclude`` subtree left out)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if exclude is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d).resolve() != exclude]
        found.extend(Path(dirpath, name).relative_to(root).as_posix() for name in filenames)
    return sorted(found)


def _chunks(items: list[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def run_batch(
    source: Path,
    output: Path,
    profile: ProfileSettings,
    key: bytes,
    *,
    jobs: int = 1,
    layout: Layout = "relative",
    audit: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    quarantine: Path | None = None,
) -> BatchSummary:
    """Anonymise every file under ``source`` into ``output``; see the module docstring."""
    started = time.monotonic()
    output.mkdir(parents=True, exist_ok=True)
    audit = audit if audit is not None else output / AUDIT_NAME
    files = list_files(source, exclude=output.resolve())
    done = _done_sources(audit)
    todo = [f for f in files if f not in done]
    summary = BatchSummary(total=len(files), skipped=len(files) - len(todo))
    size = max(1, min(64, len(todo) // max(1, jobs * 8)))
    keep = profile.reidentification_store is not None
    work = [
        _Job(profile, key, source, output, layout, chunk, keep, quarantine) for chunk in _chunks(todo, size)
    ]
    store = ReidentificationStore(profile.reidentification_store) if profile.reidentification_store else None
    count = 0
    try:
        with audit.open("a", encoding="utf-8") as log:
            if jobs > 1 and len(work) > 1:
                with ProcessPoolExecutor(max_workers=jobs) as pool:
                    results: Iterator[list[tuple[dict[str, Any], list[IdentityMapping]]]] = pool.map(
                        _run_job, work
                    )
                    count = _collect(results, log, summary, store, progress, count, len(todo))
            else:
                count = _collect(map(_run_job, work), log, summary, store, progress, count, len(todo))
    finally:
        if store is not None:
            store.close()
    summary.seconds = time.monotonic() - started
    return summary


def _collect(
    results: Iterator[list[tuple[dict[str, Any], list[IdentityMapping]]]],
    log: Any,
    summary: BatchSummary,
    store: ReidentificationStore | None,
    progress: Callable[[int, int], None] | None,
    count: int,
    total: int,
) -> int:
    for batch in results:
        for record, mappings in batch:
            log.write(json.dumps(record, sort_keys=True) + "\n")
            status = record["status"]
            if status == "ok":
                summary.anonymized += 1
                summary.actions.update(record["actions"])
                if store is not None:
                    store.record(mappings)
            elif status == "refused":
                summary.refused += 1
            else:
                summary.failed += 1
        log.flush()
        count += len(batch)
        if progress is not None:
            progress(count, total)
    return count
