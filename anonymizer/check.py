"""Residual-PHI check of anonymised output: ``dicom-node anonymize --check DIR [--source DIR] [--json]``.

Each output file is judged with the rules of :mod:`anonymizer.residual` against the source file it was
made from: the pair comes from the batch audit in DIR (``anonymize-audit.jsonl``: source -> output), or
else from the same relative path under ``--source``. A file without a source gets the structural rules
only. The batch and the node run the same check on every file they write (fail closed, see
:func:`verify_output`). Findings name file, attribute path, rule and severity, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from anonymizer.residual import CheckProfile, Finding, SourceFacts, check_output, source_facts
from anonymizer.safe_private import DEFAULT_SAFE_PRIVATE, parse_safe_private
from anonymizer.settings import ProfileSettings
from anonymizer.table import build_action_table

AUDIT_NAME = "anonymize-audit.jsonl"

__all__ = ["Finding", "check_profile", "check_tree", "read_dicom", "source_facts", "verify_output"]


def check_profile(settings: ProfileSettings) -> CheckProfile:
    """The check's view of a profile (resolved table, safe-private list, pseudonym prefix)."""
    return CheckProfile(
        build_action_table(settings.options),
        DEFAULT_SAFE_PRIVATE | parse_safe_private(settings.safe_private),
        settings.pseudonym_prefix,
    )


def read_dicom(path: Path | BytesIO) -> Dataset | None:
    """Read a DICOM file (with or without preamble); None when it is not a DICOM instance."""
    ds = read_dataset(path)
    return ds if ds is not None and "SOPClassUID" in ds else None


def read_dataset(source: Path | BytesIO | bytes) -> Dataset | None:
    """Read DICOM data (with or without preamble, instance or not); None when it does not parse."""
    path = BytesIO(source) if isinstance(source, bytes) else source
    try:
        ds = dcmread(path)
    except InvalidDicomError:
        try:
            if isinstance(path, BytesIO):
                path.seek(0)
            ds = dcmread(path, force=True)
            len(ds.keys())
        except Exception:
            return None
    except Exception:
        return None
    return ds


def verify_output(
    data: bytes, source: bytes | Dataset | SourceFacts | None, profile: CheckProfile, name: str = ""
) -> list[Finding]:
    """Findings of one written output (its bytes) against its source: empty means it may be released."""
    try:
        return check_output(data, source, profile, name)
    except Exception as exc:  # an output we cannot read back is not released either
        return [Finding(name, "", f"unreadable-output ({type(exc).__name__})", "high")]


def _pairs(output: Path, source_root: Path | None) -> dict[str, Path | None]:
    """Output file (relative) -> its source file, from the audit or the same relative path."""
    pairs: dict[str, Path | None] = {}
    audit = output / AUDIT_NAME
    if source_root is not None and audit.exists():
        for line in audit.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("output"):
                pairs[entry["output"]] = source_root / entry["source"]
    return pairs


def check_tree(
    output: Path, profile: CheckProfile, source_root: Path | None = None
) -> tuple[int, list[Finding]]:
    """Check every DICOM file under ``output``; returns (files checked, findings)."""
    pairs = _pairs(output, source_root)
    files = 0
    findings: list[Finding] = []
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if read_dicom(BytesIO(data)) is None:
            continue
        files += 1
        relative = path.relative_to(output).as_posix()
        source_path = pairs.get(relative) or (source_root / relative if source_root is not None else None)
        source = None
        if source_path is not None and source_path.is_file():
            source_bytes = source_path.read_bytes()
            source = source_bytes if read_dicom(BytesIO(source_bytes)) is not None else None
        findings.extend(verify_output(data, source, profile, relative))
    return files, findings


def report_json(files: int, findings: Iterable[Finding]) -> str:
    listed = [f.as_dict() for f in findings]
    return json.dumps({"files": files, "findings": listed}, indent=1)
