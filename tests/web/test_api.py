"""REST endpoints against an in-process node that really received a study and failed to send it."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from dicom_node.ledger import queries
from tests.web.conftest import CALLING_AE, TOKEN, WebEnv


def test_series_list_shows_received_series_with_fired_rule(web_env: WebEnv) -> None:
    rows = web_env.client.get("/api/series", params={"q": web_env.series_uid}).json()
    assert len(rows) == 1
    series = rows[0]
    assert series["series_instance_uid"] == web_env.series_uid
    assert series["instance_count"] == len(web_env.files)
    assert series["calling_ae"] == CALLING_AE
    assert series["modality"] == "CT"
    assert series["state"] == "routed"
    assert [job["rule_name"] for job in series["jobs"]] == ["to-nowhere"]
    assert series["accession_pseudonym"].startswith("ACC-")
    assert series["patient"] is None


def test_series_filters(web_env: WebEnv) -> None:
    by_modality = web_env.client.get("/api/series", params={"modality": "ct"}).json()
    assert web_env.series_uid in {s["series_instance_uid"] for s in by_modality}
    assert web_env.client.get("/api/series", params={"modality": "XA"}).json() == []
    assert web_env.client.get("/api/series", params={"calling_ae": "NOT_THERE"}).json() == []
    assert web_env.client.get("/api/series", params={"since": 4e10}).json() == []


def test_series_detail_has_jobs_events_and_revisions(web_env: WebEnv) -> None:
    series_id = web_env.client.get("/api/series", params={"q": web_env.series_uid}).json()[0]["id"]
    detail = web_env.client.get(f"/api/series/{series_id}").json()
    assert detail["series"]["id"] == series_id
    assert detail["revisions"] == [{"id": series_id, "revision": 1, "state": "routed"}]
    kinds = [e["kind"] for e in detail["events"]]
    assert "complete" in kinds and "routed" in kinds
    assert detail["jobs"][0]["id"] == web_env.failed_job_id


def test_job_detail_timeline_error_and_ticket(web_env: WebEnv) -> None:
    detail = web_env.client.get(f"/api/jobs/{web_env.failed_job_id}").json()
    job = detail["job"]
    assert job["rule_name"] == "to-nowhere"
    assert "nowhere" in job["error"]
    assert detail["ticket"]["send_to"] == ["nowhere"]
    assert detail["series"]["series_instance_uid"] == web_env.series_uid
    messages = [e["message"] for e in detail["events"]]
    assert any(m.startswith("queued → running") for m in messages)
    assert any(e["kind"] == "failed" for e in detail["events"])
    assert {d["destination"] for d in detail["deliveries"]} == {"nowhere"}
    assert len(detail["deliveries"]) == len(web_env.files)
    assert all("path" not in d for d in detail["deliveries"])


def test_job_list_filters(web_env: WebEnv) -> None:
    failed = web_env.client.get("/api/jobs", params={"state": "failed"}).json()
    assert failed and all(j["state"] == "failed" for j in failed)
    by_rule = web_env.client.get("/api/jobs", params={"rule": "no-such-rule"}).json()
    assert by_rule == []


def test_unknown_ids_are_404(web_env: WebEnv) -> None:
    assert web_env.client.get("/api/jobs/999999").status_code == 404
    assert web_env.client.get("/api/series/999999").status_code == 404
    retried = web_env.client.post("/api/jobs/999999/retry", headers=web_env.auth())
    assert (retried.status_code, retried.json()) == (404, {"detail": "job 999999 not found"})
    discarded = web_env.client.post("/api/jobs/999999/discard", headers=web_env.auth())
    assert (discarded.status_code, discarded.json()) == (404, {"detail": "job 999999 not found"})
    assert web_env.client.get("/jobs/999999").status_code == 404


def test_actions_need_a_token(web_env: WebEnv) -> None:
    job = web_env.failed_job_id
    for path in (f"/api/jobs/{job}/retry", f"/api/jobs/{job}/discard", "/api/destinations/loopback/echo"):
        assert web_env.client.post(path).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert web_env.client.post(path, headers=wrong).status_code == 401
        assert web_env.client.post(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    deliveries = web_env.client.get(f"/api/jobs/{job}").json()["deliveries"]
    assert web_env.client.get(f"/api/jobs/{job}/outputs/{deliveries[0]['id']}/file").status_code == 401
    assert web_env.job_state(job) == "failed"


def test_retry_requeues_and_the_job_fails_again(web_env: WebEnv, failed_job: int) -> None:
    response = web_env.client.post(f"/api/jobs/{failed_job}/retry", headers=web_env.auth())
    assert response.status_code == 200
    assert response.json() == {"job_id": failed_job, "state": "produced"}
    web_env.wait_job(failed_job, ("failed",))
    events = web_env.client.get(f"/api/jobs/{failed_job}").json()["events"]
    assert any("retried by an operator" in e["message"] for e in events)
    assert sum(e["kind"] == "failed" for e in events) == 2


def test_retry_of_a_job_that_is_not_failed_is_409(web_env: WebEnv, failed_job: int) -> None:
    assert web_env.client.post(f"/api/jobs/{failed_job}/discard", headers=web_env.auth()).status_code == 200
    assert web_env.job_state(failed_job) == "discarded"
    response = web_env.client.post(f"/api/jobs/{failed_job}/retry", headers=web_env.auth())
    assert response.status_code == 409
    assert response.json() == {"detail": f"job {failed_job} is discarded, only failed jobs can be retried"}
    assert web_env.client.post(f"/api/jobs/{failed_job}/discard", headers=web_env.auth()).status_code == 409


def test_output_file_download_with_token(web_env: WebEnv) -> None:
    detail = web_env.client.get(f"/api/jobs/{web_env.failed_job_id}").json()
    delivery = detail["deliveries"][0]
    response = web_env.client.get(
        f"/api/jobs/{web_env.failed_job_id}/outputs/{delivery['id']}/file", headers=web_env.auth()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom"
    assert response.content[128:132] == b"DICM"


def test_rules_and_rule_tester(web_env: WebEnv, tmp_path: Path) -> None:
    rules = web_env.client.get("/api/rules").json()
    assert [r["name"] for r in rules] == ["to-nowhere", "to-later", "drop-named"]
    upload = {"file": ("x.dcm", web_env.files[0].read_bytes(), "application/dicom")}
    result = web_env.client.post("/api/rules/test", files=upload).json()
    verdicts = {d["rule"]: d for d in result["decisions"]}
    assert verdicts["to-nowhere"]["fired"] is True
    assert "Modality='CT'" in verdicts["to-nowhere"]["reason"]
    assert verdicts["drop-named"]["fired"] is False
    junk = web_env.client.post(
        "/api/rules/test", files={"file": ("x.dcm", b"not dicom at all", "text/plain")}
    )
    assert junk.status_code == 422


def test_destinations_and_echo(web_env: WebEnv) -> None:
    destinations = {d["name"]: d for d in web_env.client.get("/api/destinations").json()}
    assert set(destinations) == {"later", "loopback", "nowhere"}
    assert destinations["nowhere"]["pending"] >= len(web_env.files)
    ok = web_env.client.post("/api/destinations/loopback/echo", headers=web_env.auth()).json()
    assert ok["ok"] is True and ok["status"] == 0
    down = web_env.client.post("/api/destinations/nowhere/echo", headers=web_env.auth()).json()
    assert down["ok"] is False
    assert web_env.client.post("/api/destinations/unknown/echo", headers=web_env.auth()).status_code == 404


def test_overview_counts(web_env: WebEnv) -> None:
    data = web_env.client.get("/api/overview").json()
    assert data["counts"]["instances"] >= len(web_env.files)
    assert data["received_last_hour"] >= len(web_env.files)
    assert len(data["throughput"]) == 12
    assert any(e["job_id"] == web_env.failed_job_id for e in data["failures_last_hour"])
    assert data["storage_free_bytes"] > 0


def test_anonymizer_batch_status(web_env: WebEnv) -> None:
    folder = web_env.node.storage.root / "anonymized" / "batch1"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        '{"source": "a.dcm", "status": "ok"}',
        '{"source": "b.dcm", "status": "refused", "reason": "burned-in annotation"}',
        '{"source": "c.dcm", "status": "failed", "reason": "not a readable DICOM file"}',
        '{"source": "d.dcm", "sta',  # cut by a crash
    ]
    (folder / "anonymize-audit.jsonl").write_text("\n".join(lines) + "\n")
    batches = web_env.client.get("/api/anonymizer/batches").json()
    batch = next(b for b in batches if b["folder"] == "anonymized/batch1")
    assert batch["counts"] == {"ok": 1, "refused": 1, "failed": 1}
    assert ["burned-in annotation", 1] in batch["top_reasons"]


def test_metrics_derived_from_the_ledger(web_env: WebEnv) -> None:
    text = web_env.client.get("/metrics").text
    received = queries.received_by_calling_ae(web_env.node.ledger)
    ours = next(r for r in received if r["calling_ae"] == CALLING_AE)
    assert (
        f'dicom_node_instances_received_total{{calling_ae="{CALLING_AE}"}} {float(ours["instances"])}' in text
    )
    assert ours["instances"] == web_env.sent
    size = sum(f.stat().st_size for f in web_env.files)
    assert ours["bytes"] >= size
    assert 'dicom_node_jobs{pipeline="forward",state="failed"}' in text
    failed_rounds = [
        line
        for line in text.splitlines()
        if line.startswith('dicom_node_send_rounds_failed_total{destination="nowhere"}')
    ]
    assert failed_rounds and float(failed_rounds[0].split()[-1]) >= 1
    assert "dicom_node_active_associations 0.0" in text
    assert "dicom_node_storage_free_bytes" in text
    assert 'dicom_node_queue_depth{state="queued"}' in text
    assert "dicom_node_series_completed_total" in text


def test_health_and_readiness(web_env: WebEnv) -> None:
    assert web_env.client.get("/healthz").json()["status"] == "ok"
    ready = web_env.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"ledger": True, "storage": True, "receiver": True}


def test_pages_render(web_env: WebEnv) -> None:
    job, series = web_env.failed_job_id, web_env.series_uid
    for path in ("/", "/series", "/jobs", f"/jobs/{job}", "/rules", "/destinations", "/anonymizer", "/login"):
        response = web_env.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
    assert series in web_env.client.get("/").text
    assert series in web_env.client.get("/series", params={"q": series[-12:]}).text
    assert "Retry" in web_env.client.get(f"/jobs/{job}").text
    assert dcmread(web_env.files[0]).SeriesInstanceUID == series
