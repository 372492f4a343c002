"""Priors from Orthanc as the PACS: the patient's earlier studies with a matching series within N years,
newest K, retrieved once and linked into the job's study context; a bad answer delays only that job."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from dicom_node.config import Config
from dicom_node.dispatch.priors_step import link_priors
from dicom_node.ledger import JobTicket, Ledger, open_ledger
from dicom_node.node import Node
from dicom_node.query import QueryError
from dicom_node.samples import Patient, ct_series
from dicom_node.storage import Storage
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.node import make_config
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port, wait_for

TODAY = dt.date.today()


@pytest.fixture
def scp_port(tmp_path: Path) -> Iterator[int]:
    server = StoreSCP(tmp_path / "scp")
    server.start()
    yield server.port
    server.stop()


def _study(
    folder: Path, patient_id: str, years_ago: int, description: str, series_number: int = 2
) -> list[Path]:
    patient = Patient(patient_id=patient_id)
    files = ct_series(
        folder, patient, slices=2, size=16, description=description, series_number=series_number
    )
    date = (TODAY - dt.timedelta(days=round(years_ago * 365.25))).strftime("%Y%m%d")
    for path in files:
        ds = dcmread(path)
        ds.StudyDate = ds.SeriesDate = date
        ds.save_as(path)
    return files


def _uids(files: list[Path]) -> set[str]:
    return {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}


def _setup(
    tmp_path: Path, orthanc: Orthanc, archive_port: int | None = None, **priors: Any
) -> tuple[Config, Ledger, Storage]:
    orthanc.add_modality("node", "AI_NODE", free_port())
    archive = {
        "host": "127.0.0.1",
        "port": archive_port or orthanc.dicom_port,
        "ae_title": orthanc.ae_title,
        "timeout_s": 5,
        "query": {"retrieve": "c-get"},
    }
    rule = {
        "name": "atrophy",
        "match": {"SeriesDescription": {"regex": "MPRAGE"}},
        "pipeline": "atrophy",
        "priors": {"archive": "pacs", **priors},
    }
    config = make_config(tmp_path / "node", destinations={"pacs": archive}, rules=[rule])
    return config, open_ledger(config.storage.database_url), Storage(config.storage.path, 0, False)


def _ticket(config: Config) -> JobTicket:
    return JobTicket(series_instance_uid="1.2.3", revision=1, rule=config.rules[0].model_dump(mode="json"))


def _events(ledger: Ledger, job_id: int) -> list[str]:
    return [e.message for e in ledger.job_events(job_id)]


def test_priors_are_found_retrieved_once_and_linked(orthanc: Orthanc, tmp_path: Path) -> None:
    two = _study(tmp_path / "two", "PRIORS-1", 2, "T1 MPRAGE")
    _study(tmp_path / "two-loc", "PRIORS-1", 2, "LOCALIZER", series_number=1)  # another study, no match
    seven = _study(tmp_path / "seven", "PRIORS-1", 7, "T1 MPRAGE 3D")
    _study(tmp_path / "other", "SOMEONE-ELSE", 1, "T1 MPRAGE")
    for files in (two, seven):
        assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    current = _study(tmp_path / "now", "PRIORS-1", 0, "T1 MPRAGE")
    assert (
        storescu(orthanc.dicom_port, current, aec=orthanc.ae_title).returncode == 0
    )  # the archive has it too

    config, ledger, storage = _setup(tmp_path, orthanc, within_years=5, newest=2)
    context = tmp_path / "job1" / "context"
    (prior,) = link_priors(config, ledger, storage, 1, _ticket(config), current, context)
    assert prior.fetched and prior.study_date == str(dcmread(two[0]).StudyDate)
    (folder,) = (context / "priors").iterdir()
    assert _uids(sorted(folder.iterdir())) == _uids(two)
    assert any("retrieved" in m and "MPRAGE" in m for m in _events(ledger, 1))

    # the next job: held already, not retrieved again (a retrieve would fail: the move target is unknown)
    config.destinations["pacs"].query.retrieve = "c-move"  # type: ignore[union-attr]
    config.destinations["pacs"].query.move_port = free_port()  # type: ignore[union-attr]
    config.destinations["pacs"].query.move_ae_title = "NOT_KNOWN"  # type: ignore[union-attr]
    (again,) = link_priors(
        config, ledger, storage, 2, _ticket(config), current, tmp_path / "job2" / "context"
    )
    assert not again.fetched and again.folder == prior.folder
    assert any("already held, not retrieved again" in m for m in _events(ledger, 2))


def test_within_years_and_newest_k(orthanc: Orthanc, tmp_path: Path) -> None:
    two = _study(tmp_path / "two", "PRIORS-2", 2, "T1 MPRAGE")
    seven = _study(tmp_path / "seven", "PRIORS-2", 7, "T1 MPRAGE")
    for files in (two, seven):
        assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    current = _study(tmp_path / "now", "PRIORS-2", 0, "T1 MPRAGE")
    config, ledger, storage = _setup(tmp_path, orthanc, within_years=10, newest=2)
    priors = link_priors(config, ledger, storage, 1, _ticket(config), current, tmp_path / "context")
    assert [p.study_date for p in priors] == [
        str(dcmread(f[0]).StudyDate) for f in (two, seven)
    ]  # newest first
    config, ledger, storage = _setup(
        tmp_path / "b", orthanc, within_years=10, newest=1, match={"Modality": "MR"}
    )
    assert link_priors(config, ledger, storage, 1, _ticket(config), current, tmp_path / "c2") == []
    events = [(e.kind, e.message) for e in ledger.job_events(1)]
    assert events[-1] == ("prior", "no prior found on pacs")
    queries = [m for kind, m in events if kind == "priors-query"]
    assert queries[0].startswith("C-FIND on pacs: the patient's studies of ") and queries[0].endswith(
        ": 2 found"
    )
    assert len(queries) == 1 + 2  # the studies, then the series of each (none matched)


def test_an_archive_that_cannot_be_asked_is_a_query_error_with_the_reason(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    current = _study(tmp_path / "now", "PRIORS-3", 0, "T1 MPRAGE")
    config, ledger, storage = _setup(tmp_path, orthanc, archive_port=free_port())
    with pytest.raises(
        QueryError, match=r"priors from pacs: association with ORTHANC@127\.0\.0\.1:\d+ failed"
    ):
        link_priors(config, ledger, storage, 1, _ticket(config), current, tmp_path / "context")


def test_priors_need_an_archive_with_a_query_section(tmp_path: Path) -> None:
    from dicom_node.errors import ConfigError

    rule = {"name": "r", "match": {}, "pipeline": "atrophy", "priors": {"archive": "pacs"}}
    plain = {"host": "pacs", "port": 104, "ae_title": "PACS"}
    with pytest.raises(ConfigError, match=r"priors\.archive: not a destination with a query section"):
        make_config(tmp_path, destinations={"pacs": plain}, rules=[rule])


def test_a_job_gets_its_prior_once_and_a_resent_study_does_not_fetch_it_again(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    """Through the node: the qc pipeline (model-free) with priors; its result reaches Orthanc."""
    prior = _study(tmp_path / "two", "PRIORS-E2E", 2, "T1 MPRAGE")
    assert storescu(orthanc.dicom_port, prior, aec=orthanc.ae_title).returncode == 0
    current = _study(tmp_path / "now", "PRIORS-E2E", 0, "T1 MPRAGE")
    orthanc.add_modality("node", "AI_NODE", free_port())
    archive = {"host": "127.0.0.1", "port": orthanc.dicom_port, "ae_title": orthanc.ae_title, "timeout_s": 10}
    rule = {
        "name": "qc-with-prior",
        "match": {"SeriesDescription": {"regex": "MPRAGE"}},
        "pipeline": "qc",
        "send_to": ["pacs"],
        "priors": {"archive": "pacs", "within_years": 5},
    }
    node = start_node(destinations={"pacs": {**archive, "query": {}}}, rules=[rule])

    def delivered(n: int) -> bool:
        return [j.state for j in node.ledger.list_jobs()] == ["delivered"] * n

    assert storescu(node.port, current).returncode == 0
    wait_for(lambda: delivered(1), timeout=180, what="the first job delivered")
    assert any("retrieved" in m for m in _events(node.ledger, 1))
    assert storescu(node.port, current).returncode == 0  # the study sent again: a new revision, a new job
    wait_for(lambda: delivered(2), timeout=180, what="the second job delivered")
    job_ids = sorted(int(j.id) for j in node.ledger.list_jobs())
    assert any("already held, not retrieved again" in m for m in _events(node.ledger, job_ids[1]))
    stats = node.ledger.completion_stats()
    assert (stats["priors_retrieved"], stats["priors_held"]) == (1, 1)


def test_an_archive_down_delays_only_its_job(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path, scp_port: int
) -> None:
    """Orthanc stopped while a job asks for priors: the job backs off with the reason in its timeline, a
    job of another rule is delivered meanwhile, and the job goes on once Orthanc is back."""
    prior = _study(tmp_path / "two", "PRIORS-DOWN", 2, "T1 MPRAGE")
    assert storescu(orthanc.dicom_port, prior, aec=orthanc.ae_title).returncode == 0
    current = _study(tmp_path / "now", "PRIORS-DOWN", 0, "T1 MPRAGE")
    orthanc.add_modality("node", "AI_NODE", free_port())
    archive = {"host": "127.0.0.1", "port": orthanc.dicom_port, "ae_title": orthanc.ae_title, "timeout_s": 5}
    scp = {"host": "127.0.0.1", "port": scp_port, "ae_title": "STORESCP", "timeout_s": 5}
    rules = [
        {"name": "qc-with-prior", "match": {}, "pipeline": "qc", "priors": {"archive": "pacs"}},
        {"name": "copy", "match": {}, "send_to": ["scp"]},
    ]
    node = start_node(destinations={"pacs": {**archive, "query": {}}, "scp": scp}, rules=rules)
    orthanc.stop()
    try:
        assert storescu(node.port, current).returncode == 0
        wait_for(
            lambda: any("priors from pacs: association" in m for m in _events(node.ledger, 1)),
            timeout=60,
            what="a retry of the job asking for priors",
        )
        jobs = {j.rule_name: j for j in node.ledger.list_jobs()}
        assert jobs["qc-with-prior"].state in ("queued", "running")
        wait_for(
            lambda: {j.rule_name: j.state for j in node.ledger.list_jobs()}["copy"] == "delivered",
            timeout=60,
            what="the other rule's job delivered meanwhile",
        )
    finally:
        orthanc.start()
        orthanc.add_modality("node", "AI_NODE", free_port())  # Orthanc keeps REST-made peers in memory
    wait_for(
        lambda: {j.rule_name: j.state for j in node.ledger.list_jobs()}["qc-with-prior"] == "delivered",
        timeout=120,
        what="the job delivered once Orthanc is back",
    )
    assert any("retrieved" in m for m in _events(node.ledger, 1))


def test_a_pipeline_job_gets_its_persistent_cache_folder(tmp_path: Path) -> None:
    """context/cache links to <storage>/cache/<pipeline>/: relative (a shared storage mounted elsewhere
    resolves it too), replaced on a retried job without touching the cache, one folder per pipeline."""
    from dicom_node.dispatch.pipeline_cache import link_pipeline_cache
    from inference.study_context import StudyContext

    storage = Storage(tmp_path / "var", 0, False)
    context = storage.job_dir(7) / "context"
    link = link_pipeline_cache(storage, "atrophy", context)
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == storage.root / "cache" / "atrophy"
    (link / "1.2.3.json").write_text("{}")
    again = link_pipeline_cache(storage, "atrophy", context)  # the job retried
    assert (again / "1.2.3.json").read_text() == "{}"
    other = link_pipeline_cache(storage, "atrophy", storage.job_dir(8) / "context")  # another job, same cache
    assert (other / "1.2.3.json").exists()
    assert not (link_pipeline_cache(storage, "qc", storage.job_dir(9) / "context") / "1.2.3.json").exists()
    cache = StudyContext.beside(storage.job_dir(7) / "input").cache_dir
    assert cache is not None and (cache / "1.2.3.json").exists()


def test_bad_answers_delay_only_their_own_job_with_the_reason(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    """One series, four rules: three ask Orthanc for priors and each meets a bad answer (a C-FIND Orthanc
    refuses, a C-MOVE to a destination it does not know, a C-MOVE that never ends: its destination
    accepts the connection and never answers); each job backs off with the archive's answer in its own
    timeline (and fails after ``dispatch.max_attempts``) while the fourth rule's job is delivered."""
    prior = _study(tmp_path / "two", "PRIORS-BAD", 2, "T1 MPRAGE")
    assert storescu(orthanc.dicom_port, prior, aec=orthanc.ae_title).returncode == 0
    current = _study(tmp_path / "now", "PRIORS-BAD", 0, "T1 MPRAGE")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections (backlog), never answers
    orthanc.add_modality("node", "AI_NODE", free_port())
    orthanc.add_modality("silent", "AI_NODE_SILENT", silent.getsockname()[1])
    base = {"host": "127.0.0.1", "port": orthanc.dicom_port, "ae_title": orthanc.ae_title, "timeout_s": 3}
    destinations = {
        "pacs": base,
        "find-refused": {**base, "calling_ae_title": "STRANGER", "query": {}},
        "move-refused": {
            **base,
            "query": {"retrieve": "c-move", "move_ae_title": "NOT_KNOWN", "move_port": free_port()},
        },
        "move-silent": {
            **base,
            "query": {"retrieve": "c-move", "move_ae_title": "AI_NODE_SILENT", "move_port": free_port()},
        },
    }
    asks = [
        {"name": name, "match": {}, "pipeline": "qc", "priors": {"archive": name}}
        for name in ("find-refused", "move-refused", "move-silent")
    ]
    copy = {"name": "copy", "match": {}, "send_to": ["pacs"]}
    node = start_node(destinations=destinations, rules=[*asks, copy])
    reasons = {
        "find-refused": "priors from find-refused: C-FIND at STUDY level: no answer",
        "move-refused": "priors from move-refused: C-MOVE to NOT_KNOWN ended with 0x",  # Orthanc: 0xc000
        "move-silent": "priors from move-silent: C-MOVE to AI_NODE_SILENT ended with no answer",
    }
    try:
        assert storescu(node.port, current).returncode == 0

        def jobs() -> dict[str, Any]:
            return {j.rule_name: j for j in node.ledger.list_jobs()}

        def told(rule: str) -> bool:
            job = jobs().get(rule)
            return job is not None and any(reasons[rule] in m for m in _events(node.ledger, job.id))

        for rule in reasons:
            wait_for(lambda rule=rule: told(rule), timeout=90, what=f"the reason in {rule}'s timeline")
        wait_for(lambda: jobs()["copy"].state == "delivered", timeout=60, what="the copy delivered")
        for rule, reason in reasons.items():
            job = jobs()[rule]
            assert job.state != "delivered"  # backing off, or given up after dispatch.max_attempts
            others = [r for r in reasons.values() if r != reason]
            assert not any(o in m for o in others for m in _events(node.ledger, job.id))
    finally:
        silent.close()
