"""The anonymizer inside the node: ``anonymize: PROFILE`` forwarding and the de-identified inference route.

The node's side of the anonymizer library (:mod:`anonymizer`): it reads the profiles from the node's
configuration and hands the library plain settings (:class:`anonymizer.settings.ProfileSettings`).

* :func:`anonymize_forward` -- the executor's transform for ``anonymize:`` rules: anonymised copies of a
  series go out instead of the originals.
* :func:`deidentify_inputs` / :func:`reidentify_outputs` -- for ``deidentify: PROFILE`` on a pipeline rule:
  the pipeline sees only pseudonymised input; its results are rewritten under the original identity
  (patient, study, and every referenced series / instance / frame of reference UID) before they are sent.

Policy: all or nothing. If any file of the series is refused (burned-in text that no pixel rule cleans,
recognisable features), is not readable DICOM, or its output fails the residual-PHI check (fail closed),
the job fails with a :class:`PipelineError` that says how many files and why (device and geometry, the
rule and attribute path of a residual, never PHI), and no anonymised file is left in the output: a PACS
admin would rather see a failed job than a half-anonymised series at the research PACS.

The key comes from the profile's ``key_file``; without one, from ``<storage.path>/anon.key`` (the CLI's
default when it runs in the node's folder), so the node and ``dicom-node anonymize`` pseudonymise alike.
The re-identification mapping goes to the profile's ``reidentification_store``; without one, to a store in
this process's memory (enough for one job: de-identification and re-identification run in the same job).
"""

from __future__ import annotations

import threading
from collections import Counter
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from anonymizer.check import check_profile, verify_output
from anonymizer.engine import Anonymizer, IdentityMapping
from anonymizer.errors import AnonymizationRefused
from anonymizer.keyfile import load_or_create_key
from anonymizer.raw_engine import RawAnonymizer, RawResult, anonymize_file_bytes
from anonymizer.reidentify import ReidentificationStore, reidentify
from anonymizer.settings import ProfileSettings
from dicom_node.config import Config
from dicom_node.dispatch.executor import ForwardTransform
from dicom_node.errors import PipelineError
from dicom_node.storage import write_file_atomic

DEFAULT_KEY_NAME = "anon.key"
MEMORY_ROWS = 500_000  # in-memory re-identification store: far more than one job needs
# Patient and study attributes restored on results (recorded per pseudonymous Study Instance UID).
STUDY_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "StudyDescription", "ReferringPhysicianName",
)  # fmt: skip
_STUDY_KIND = "study:"

_lock = threading.Lock()
_engines: dict[tuple[str, str, str], tuple[Anonymizer, RawAnonymizer]] = {}
_stores: dict[str, ReidentificationStore] = {}


def anonymize_forward(config: Config) -> ForwardTransform:
    """The transform the executor applies to the originals of an ``anonymize: PROFILE`` rule."""

    def transform(ticket: dict[str, Any], input_files: list[Path], output_dir: Path) -> list[Path]:
        name = str(ticket.get("anonymize") or "")
        outputs, results = _anonymize_all(config, name, input_files, output_dir)
        store_path = _profile(config, name).reidentification_store
        if store_path is not None:
            _record(_store(config, name), results, input_files)
        return outputs

    return transform


def deidentify_inputs(
    config: Config, profile_name: str, input_files: list[Path], out_dir: Path
) -> list[Path]:
    """Pseudonymise a series for a pipeline; record pseudonym -> original for :func:`reidentify_outputs`."""
    outputs, results = _anonymize_all(config, profile_name, input_files, out_dir)
    _record(_store(config, profile_name), results, input_files)
    return outputs


def reidentify_outputs(config: Config, profile_name: str, output_files: list[Path]) -> None:
    """Rewrite pipeline results in place (atomically) under the original patient, study and references."""
    store = _store(config, profile_name)
    for path in output_files:
        ds = dcmread(path)
        pseudo_study = str(ds.get("StudyInstanceUID", "") or "")
        reidentify(ds, store)
        for keyword in STUDY_KEYWORDS:
            original = store.original(_STUDY_KIND + keyword, pseudo_study) if pseudo_study else None
            if original is not None:
                setattr(ds, keyword, original)
        buffer = BytesIO()
        ds.save_as(buffer)
        write_file_atomic(path, buffer.getvalue(), fsync=config.storage.fsync)


# -- internals ------------------------------------------------------------------------------------------
def _profile(config: Config, name: str) -> ProfileSettings:
    profile = config.anonymizer.profiles.get(name)
    if profile is None:
        raise PipelineError(f"anonymizer profile {name!r} is not configured")
    return profile


def _engines_for(config: Config, name: str) -> tuple[Anonymizer, RawAnonymizer]:
    profile = _profile(config, name)
    key_file = profile.key_file or config.storage.path / DEFAULT_KEY_NAME
    cache_key = (name, profile.model_dump_json(), str(key_file))
    with _lock:
        engines = _engines.get(cache_key)
        if engines is None:
            anonymizer = Anonymizer.from_settings(profile, key=load_or_create_key(key_file))
            engines = _engines[cache_key] = (anonymizer, RawAnonymizer(anonymizer))
    return engines


def _store(config: Config, name: str) -> ReidentificationStore:
    path = _profile(config, name).reidentification_store
    where = str(path) if path is not None else f":memory:{name}"
    with _lock:
        store = _stores.get(where)
        if store is None:
            store = _stores[where] = (
                ReidentificationStore(path)
                if path is not None
                else ReidentificationStore(":memory:", MEMORY_ROWS)
            )
    return store


def _read(data: bytes) -> Dataset | None:
    try:
        ds = dcmread(BytesIO(data), force=True)
    except (InvalidDicomError, ValueError, EOFError, OSError):
        return None
    return ds if "SOPClassUID" in ds else None


def _anonymize_all(
    config: Config, name: str, input_files: list[Path], output_dir: Path
) -> tuple[list[Path], list[RawResult]]:
    """Anonymise every file or none (see the module docstring); output files are named by their new UID."""
    engine, raw = _engines_for(config, name)
    check = check_profile(_profile(config, name))
    results: list[RawResult] = []
    problems: Counter[str] = Counter()
    for path in input_files:
        try:
            data = path.read_bytes()
            result = anonymize_file_bytes(engine, raw, data, _read)
        except AnonymizationRefused as exc:
            problems[exc.reason] += 1
            continue
        except OSError as exc:
            problems[f"cannot read the file ({exc.strerror})"] += 1
            continue
        if result is None:
            problems["not a readable DICOM file"] += 1
            continue
        findings = verify_output(result.data, data, check)  # fail closed: residual PHI is not sent
        if findings:
            problems[f"residual PHI ({findings[0].rule} at {findings[0].path} {findings[0].attribute})"] += 1
            continue
        results.append(result)
    if problems:
        refused = sum(problems.values())
        reasons = "; ".join(f"{count} x {reason}" for reason, count in problems.most_common(3))
        raise PipelineError(
            f"anonymizer profile {name!r} refused {refused} of {len(input_files)} file(s), "
            f"so nothing was sent: {reasons}"
        )
    outputs: list[Path] = []
    try:
        for index, result in enumerate(results):
            target = output_dir / f"{result.identity.get('SOPInstanceUID') or f'instance{index:05d}'}.dcm"
            write_file_atomic(target, result.data, fsync=config.storage.fsync)
            outputs.append(target)
    except Exception:
        for written in outputs:
            written.unlink(missing_ok=True)
        raise
    return outputs, results


def _record(store: ReidentificationStore, results: list[RawResult], input_files: list[Path]) -> None:
    """Store every pseudonym of the results, and the original patient/study attributes per study."""
    mappings: list[IdentityMapping] = []
    for result in results:
        mappings.extend(result.mappings)
        pseudo_patient = result.identity.get("PatientID", "")
        if result.date_offset_days is not None and pseudo_patient:
            mappings.append(IdentityMapping("date_offset", pseudo_patient, str(result.date_offset_days)))
    seen: set[str] = set()
    for result, path in zip(results, input_files, strict=False):
        pseudo_study = result.identity.get("StudyInstanceUID", "")
        if not pseudo_study or pseudo_study in seen:
            continue
        seen.add(pseudo_study)
        source = dcmread(path, stop_before_pixels=True, specific_tags=list(STUDY_KEYWORDS))
        for keyword in STUDY_KEYWORDS:
            if keyword in source:
                value = source[keyword].value
                values = value if isinstance(value, MultiValue | list) else [value]
                text = "\\".join("" if v is None else str(v) for v in values)
                mappings.append(IdentityMapping(_STUDY_KIND + keyword, pseudo_study, text))
    store.record(mappings)
