"""One logging dialect in every process: structured lines, PHI redacted, the pipeline child included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from dicom_node.dispatch.pipeline_process import _identity
from dicom_node.logsetup import redact_text, redact_values
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import storescu
from tests.support.node import REPO, NodeProcess
from tests.support.ports import wait_for

# A one-component name: highdicom, in the child, warns with the name in the text ("The string ... is
# unlikely to represent the intended person name"). The birth date is not a valid DA: the child's writers
# leave it out and warn, with an extra field.
NAME, PATIENT_ID, BIRTH_DATE = "LeeSeoyeonLog", "LOGPHI01", "1980-01-01"


def _events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_way_in_writes_the_same_redacted_line(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    script = f"""
import logging, warnings
from pathlib import Path
from dicom_node.logsetup import configure_logging, get_logger, log_context, redact_values
configure_logging("info", "json", Path({str(log)!r}))
with log_context(job_id=7, series_uid="1.2.3"):
    get_logger("node").info("structured", patient_name="Kim^Minjun", count=2)
    logging.getLogger("lib").info("plain %s", "text", extra={{"outputs": 3, "pipeline": "qc"}})
    logging.getLogger("lib").warning("bad header for Kim^Minjun")
    warnings.warn("Invalid value for VR DA: '19800101x'")
    with redact_values(["Seoyeon Lee", "LOGPHI01"]):
        logging.getLogger("lib").warning("patient Seoyeon Lee (LOGPHI01) refused")
logging.getLogger("lib").debug("below the level")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    events = _events(log)
    assert [e["logger"] for e in events] == ["node", "lib", "lib", "py.warnings", "lib"]
    for event in events:  # one dialect: every line has the same frame and the bound context
        assert {"event", "level", "logger", "timestamp"} <= set(event)
        assert event["job_id"] == 7 and event["series_uid"] == "1.2.3"
    assert events[0]["patient_name"] == "[redacted]" and events[0]["count"] == 2
    assert events[1]["outputs"] == 3 and events[1]["pipeline"] == "qc"  # stdlib extra={...} kept
    assert events[2]["event"] == "bad header for [redacted]" and events[2]["level"] == "warning"
    assert events[3]["logger"] == "py.warnings" and "VR DA: [redacted]" in events[3]["event"]
    assert events[4]["event"] == "patient [redacted] ([redacted]) refused"
    text = log.read_text(encoding="utf-8")
    for phi in ("Kim", "Minjun", "19800101x", "Seoyeon", "LOGPHI01"):
        assert phi not in text


def test_the_pipeline_child_logs_to_the_node_log_with_the_job(tmp_path: Path) -> None:
    files = ct_series(
        tmp_path / "ct", Patient(name=NAME, patient_id=PATIENT_ID, birth_date=BIRTH_DATE), 4, 32
    )
    node = NodeProcess(
        tmp_path / "node", rules=[{"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc"}]
    )
    log = tmp_path / "node" / "node.log"
    node.start()
    try:
        assert storescu(node.port, files).returncode == 0
        wait_for(
            lambda: any(e["event"] == "pipeline finished" for e in _events(log)),
            timeout=180,
            what="the pipeline child's INFO line in the node's log",
        )
        jobs = node.cli("jobs")
    finally:
        node.stop()
    events = _events(log)
    finished = next(e for e in events if e["event"] == "pipeline finished")
    assert finished["logger"] == "inference.registry" and finished["level"] == "info"
    assert finished["pipeline"] == "qc" and finished["outputs"] == 3  # the record's extra={...} fields
    assert finished["series_uid"] == _series_uid(files[0])
    assert isinstance(finished["job_id"], int) and str(finished["job_id"]) in jobs.stdout
    cleaned = next(e for e in events if e["logger"] == "inference.dicom_out.sanitize")
    assert cleaned["level"] == "warning" and "PatientBirthDate" in cleaned["changes"]
    assert cleaned["job_id"] == finished["job_id"] and cleaned["series_uid"] == finished["series_uid"]
    named = [e for e in events if e["logger"] == "py.warnings" and "intended person name" in e["event"]]
    assert named and all("[redacted]" in e["event"] for e in named)  # a warning quoting the patient's name
    assert named[0]["job_id"] == finished["job_id"]
    text = log.read_text(encoding="utf-8")
    for phi in (NAME, PATIENT_ID, BIRTH_DATE):
        assert phi not in text


def _series_uid(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def test_the_child_redacts_the_identity_of_the_series_it_runs(tmp_path: Path) -> None:
    files = ct_series(
        tmp_path / "ct", Patient(name="Park^Jiwoo", patient_id="ID-77", birth_date="19791231"), 2, 16
    )
    (tmp_path / "ct" / "notes.txt").write_text("not DICOM")
    identity = _identity(files[0].parent)
    assert {"Park^Jiwoo", "ID-77", "19791231"} <= set(identity)
    line = "Jiwoo Park (ID-77, born 19791231) refused"
    with redact_values(identity):
        assert redact_text(line) == "[redacted] [redacted] ([redacted], born [redacted]) refused"
    assert redact_text(line) == line  # only while that series is being processed
    assert _identity(tmp_path / "missing") == []  # the pipeline reports the missing folder itself
