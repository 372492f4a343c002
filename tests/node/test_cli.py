"""The command line as a user runs it: send, jobs, retry, serve with a bad config, demo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import StoreSCP
from tests.support.node import DICOM_NODE, NodeProcess
from tests.support.ports import wait_for


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DICOM_NODE), *args], capture_output=True, text=True, timeout=timeout)


def test_bad_config_stops_serve_with_the_key_path(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(
        yaml.safe_dump({"node": {"port": "eleven"}, "rules": [{"name": "x", "match": {"Nope": 1}}]})
    )
    result = _run("serve", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1  # one line
    assert "node.port" in result.stderr and "rules.0.match" in result.stderr


def test_send_jobs_and_retry_through_the_cli(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=3, size=32)
    (tmp_path / "ct" / "notes.txt").write_text("not DICOM")
    scp = StoreSCP(tmp_path / "scp")
    node = NodeProcess(
        tmp_path / "node",
        destinations={"scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP", "timeout_s": 3}},
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["scp"]}],
        series={"complete_after_s": 0.5},
        dispatch={"max_attempts": 1},
    )
    node.start()
    try:
        sent = _run("send", str(tmp_path / "ct"), "--to", f"127.0.0.1:{node.port}", "--aec", "AI_NODE")
        assert sent.returncode == 0, sent.stderr
        assert "sent 3, failed 0, skipped 1" in sent.stdout and "notes.txt" in sent.stderr
        wait_for(
            lambda: "failed" in node.cli("jobs").stdout, timeout=60, what="the job to fail (no destination)"
        )
        listing = node.cli("jobs", "--state", "failed")
        assert "copy" in listing.stdout and "association" in listing.stdout
        job_id = listing.stdout.splitlines()[1].split()[0]
        detail = node.cli("jobs", job_id)
        assert "queued → running" in detail.stdout and "gave up after 1 attempts" in detail.stdout
        scp.start()
        retried = node.cli("retry", job_id)
        assert retried.returncode == 0 and "re-queued (produced)" in retried.stdout
        wait_for(
            lambda: "delivered" in node.cli("jobs", job_id).stdout.splitlines()[0],
            timeout=60,
            what="delivery",
        )
        assert sum(scp.stored_counts().values()) == len(files)
        again = node.cli("retry", job_id)
        assert again.returncode == 2 and "only failed jobs can be retried" in again.stderr
    finally:
        node.stop()
        scp.stop()


def test_send_reports_bad_input() -> None:
    result = _run("send", "/nonexistent", "--to", "127.0.0.1:1")
    assert result.returncode == 2 and "no such file or folder" in result.stderr
    result = _run("send", "/tmp", "--to", "nohostport")
    assert result.returncode == 2 and "expected HOST:PORT" in result.stderr


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    result = _run("demo", "--workdir", str(tmp_path / "demo"), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every job delivered" in result.stdout
    assert "16 x MR" in result.stdout and "patient ANON^" in result.stdout  # the anonymised research copy
    assert "AI qc SEG" in result.stdout and "AI qc SR" in result.stdout and "AI rds SR" in result.stdout
