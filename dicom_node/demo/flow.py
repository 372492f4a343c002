"""Run the whole flow: generate studies, receive them, complete, route, run a pipeline, deliver."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from dicom_node.config import Config, DestinationConfig, build_config
from dicom_node.demo.real import REAL_RULES, real_inputs
from dicom_node.network.sender import Outgoing, send
from dicom_node.samples import KOREAN_PATIENT, Patient, ct_series, mr_series


def demo_config(workdir: Path, pacs_port: int, real_rules: list[dict[str, Any]] | None = None) -> Config:
    data: dict[str, Any] = {
        "node": {"ae_title": "AI_NODE", "bind": "127.0.0.1", "port": 0},
        "storage": {"path": str(workdir / "node"), "min_free_gb": 0.1},
        "series": {"complete_after_s": 2, "check_interval_s": 0.5},
        "destinations": {"pacs": {"host": "127.0.0.1", "port": pacs_port, "ae_title": "DEMO_PACS"}},
        "rules": [
            {"name": "ct-qc", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["pacs"]},
            {
                "name": "neonatal-cxr",
                "match": {"Modality": ["CR", "DX"], "BodyPartExamined": "CHEST"},
                "pipeline": "rds",
                "send_to": ["pacs"],
            },
            {
                "name": "research-copy",
                "match": {"Modality": "MR", "SeriesDescription": {"regex": "(?i)mprage|t1.*3d"}},
                "anonymize": "research",
                "send_to": ["pacs"],
            },
            *(real_rules or []),
            {"name": "everything-else", "fallback": True, "discard": True},
        ],
        "anonymizer": {
            "profiles": {
                "research": {
                    "options": ["retain_longitudinal_modified_dates"],
                    "key_file": str(workdir / "anon.key"),
                }
            }
        },
        "execution": {"workers": 2},
        "logging": {"level": "warning", "file": str(workdir / "node.log")},
    }
    return build_config(data, environ={})


def run_demo(workdir: Path, timeout_s: float = 300, real_data: Path | None = None) -> int:
    from dicom_node.demo.pacs import FolderPACS
    from dicom_node.logsetup import configure_logging
    from dicom_node.node import Node
    from inference.registry import write_demo_input

    if workdir.exists():
        shutil.rmtree(workdir)
    studies = workdir / "studies"
    print(f"[1/4] generating sample studies in {studies}")
    ct = ct_series(studies / "ct", KOREAN_PATIENT, slices=24, size=128)
    mr = mr_series(studies / "mr", Patient(name="DEMO^MRI", patient_id="DEMO0002"))
    cr = write_demo_input("rds", studies / "cr")  # a synthetic neonatal chest radiograph (no patient)
    real: list[Path] = []
    if real_data is not None:
        real = real_inputs(real_data, studies / "real")
        print(f"      + real series for rds, atrophy and fmri from {real_data}")

    pacs = FolderPACS(workdir / "pacs")
    pacs_port = pacs.start()
    config = demo_config(workdir, pacs_port, REAL_RULES if real else None)
    configure_logging(config.logging.level, config.logging.format, config.logging.file)
    node = Node(config)
    node.start()
    try:
        files = ct + mr + cr + real
        print(f"[2/4] sending {len(files)} instances to AI_NODE on port {node.port}")
        outcomes = send(
            DestinationConfig(host="127.0.0.1", port=node.port or 0, ae_title="AI_NODE"),
            "MODALITY",
            [Outgoing(i, p, "") for i, p in enumerate(files)],
        )
        failed = [o for o in outcomes if not o.accepted]
        print(f"      {len(outcomes) - len(failed)} accepted, {len(failed)} failed")
        print("[3/4] waiting for series completion, routing, pipelines and delivery")
        deadline = time.monotonic() + timeout_s
        time.sleep(config.series.complete_after_s)
        while node.ledger.open_work() and time.monotonic() < deadline:
            time.sleep(0.5)
        print("[4/4] summary")
        counts = node.ledger.counts()
        print(f"      instances received: {counts['instances']}, series revisions: {counts['series']}")
        for job in reversed(node.ledger.list_jobs()):
            line = f"      job {job.id}: {job.rule_name:16} {job.action:9} -> {job.state}"
            print(line + (f" ({job.error})" if job.error else ""))
        print("      the demo PACS holds:")
        for (modality, description, patient), n in sorted(pacs.inventory().items()):
            print(f"        {n:3d} x {modality:3} {description:24} patient {patient}")
        ok = (
            not failed
            and all(j.state in ("delivered", "discarded") for j in node.ledger.list_jobs())
            and not node.ledger.open_work()
        )
        print(f"demo {'finished: every job delivered' if ok else 'FAILED: see ' + str(workdir / 'node.log')}")
        if ok:
            folders = f"{workdir / 'studies'} {workdir / 'pacs'}"
            print(f"look at the results in OHIF: make viewer  (or: dicom-node viewer {folders})")
        return 0 if ok else 1
    finally:
        node.stop()
        pacs.stop()
