"""The celery backend's parts: configuration, the ledger claims a message triggers, and the dispatcher
against a real redis-server (no worker: the messages are read back from the broker's queues)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicom_node.config import build_config
from dicom_node.dispatch.queues import queue_for
from dicom_node.errors import ConfigError
from dicom_node.ledger import InstanceRecord, JobTicket, Ledger, NewJob, open_ledger
from tests.scaleout.services import RedisServer
from tests.support.node import DICOM_NODE

SERIES = "1.2.826.0.1.3680043.8.498.11"
STUDY = "1.2.826.0.1.3680043.8.498.12"


def _ledger_with_jobs(tmp_path: Path) -> tuple[Ledger, list[int]]:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.record_instances(
        [
            InstanceRecord(
                sop_instance_uid=f"{SERIES}.1",
                sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                series_instance_uid=SERIES,
                study_instance_uid=STUDY,
                transfer_syntax_uid="1.2.840.10008.1.2.1",
                path="spool/1.dcm",
                size_bytes=10,
                frames=1,
                calling_ae="CT",
                modality="CT",
                series_description="",
                expected_frames=None,
            )
        ]
    )
    (series_id,) = ledger.complete_quiet_series(quiet_s=1, now=time.time() + 100)
    ticket = JobTicket(series_instance_uid="1.2.3", revision=1)
    jobs = [
        NewJob("ai", "pipeline", "qc", ticket),
        NewJob("copy", "forward", None, ticket),
        NewJob("drop", "discard", None, ticket),
    ]
    return ledger, ledger.route_series(series_id, jobs, "3 rules fired")


def test_celery_backend_needs_a_broker_and_never_shows_it() -> None:
    with pytest.raises(ConfigError, match=r"execution\.broker: required when execution\.backend is celery"):
        build_config({"execution": {"backend": "celery"}}, environ={})
    with pytest.raises(ConfigError, match="unsupported broker scheme 'http'") as error:
        build_config({"execution": {"backend": "celery", "broker": "http://u:s3cret@h"}}, environ={})
    assert "s3cret" not in str(error.value)
    config = build_config(
        {"execution": {"backend": "celery"}}, environ={"DICOM_NODE__EXECUTION__BROKER": "redis://:s3cret@h/0"}
    )
    assert config.execution.broker is not None and "s3cret" not in repr(config)
    assert build_config({}, environ={}).execution.backend == "local"


def test_the_local_backend_never_imports_celery(tmp_path: Path) -> None:
    code = (
        "import sys; from dicom_node.cli import build_parser; build_parser(); "
        "from dicom_node.node import Node; from tests.support.node import make_config; "
        "from pathlib import Path; "
        f"node = Node(make_config(Path({str(tmp_path)!r}))); node.start(receive=False); node.stop(); "
        "assert 'celery' not in sys.modules and 'kombu' not in sys.modules, 'celery imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_worker_refuses_the_local_backend(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("execution: {backend: local}\n")
    result = subprocess.run(
        [str(DICOM_NODE), "worker", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "execution.backend: must be celery" in result.stderr


def test_a_job_is_claimed_once_and_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    ledger, (ai, copy, drop) = _ledger_with_jobs(tmp_path)
    assert [(j.id, queue_for(j.action, j.pipeline)) for j in ledger.due_jobs()] == [
        (ai, "qc"),
        (copy, "forward"),
    ]  # not discarded
    assert queue_for("pipeline", "rds") == "rds" and queue_for("forward", None) == "forward"

    first = ledger.claim_job_by_id(ai, "worker-a", lease_s=30)
    assert first is not None and first.state == "running" and first.lease_owner == "worker-a"
    assert ledger.claim_job_by_id(ai, "worker-b", lease_s=30) is None  # a duplicate message
    assert ledger.claim_job_by_id(drop, "worker-b", lease_s=30) is None  # nothing to do
    assert [j.id for j in ledger.due_jobs()] == [copy]

    short = ledger.claim_job_by_id(copy, "worker-a", lease_s=0.01)
    assert short is not None
    time.sleep(0.05)  # worker-a "died": its lease expired
    assert [j.id for j in ledger.due_jobs()] == [copy]
    taken = ledger.claim_job_by_id(copy, "worker-b", lease_s=30)
    assert taken is not None and taken.state == "running" and taken.lease_owner == "worker-b"
    assert not ledger.renew_lease(copy, "worker-a", 30)  # the dead holder cannot come back
    assert "took over an expired lease" in ledger.job_events(copy)[-1].message


def test_dispatcher_sends_each_due_job_to_its_queue_and_again_only_when_stale(
    tmp_path: Path, redis_server: RedisServer, broker_url: str
) -> None:
    from dicom_node.dispatch.celery_dispatch import CeleryDispatcher

    ledger, (ai, _copy, _drop) = _ledger_with_jobs(tmp_path)
    config = build_config(
        {"execution": {"backend": "celery", "broker": broker_url, "requeue_after_s": 60}}, environ={}
    )
    now = [1000.0]  # the dispatcher's clock, moved by hand
    dispatcher = CeleryDispatcher(config, ledger, clock=lambda: now[0])
    client = redis_server.client()
    try:
        assert dispatcher.enqueue_due() == 2
        assert (client.llen("qc"), client.llen("forward")) == (1, 1)
        assert dispatcher.enqueue_due() == 0  # already sent, not stale yet
        ledger.claim_job_by_id(ai, "worker-a", lease_s=30)
        now[0] += 61
        assert dispatcher.enqueue_due() == 1  # the copy job waited too long: sent again; ai is running
        assert (client.llen("qc"), client.llen("forward")) == (1, 2)
        ledger.job_produced(ai, "worker-a", [], "nothing to send")
        assert dispatcher.enqueue_due() == 0  # ai delivered; copy sent just now
    finally:
        dispatcher.close()
