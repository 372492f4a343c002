"""Patient identity never reaches a page or an API answer unless web.show_phi is true."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dicom_node.samples import cr_image
from dicom_node.web import WebParts, create_app
from tests.web.conftest import CANARY, CANARY_STRINGS, TOKEN, WebEnv


def _all_answers(client: TestClient, env: WebEnv) -> dict[str, str]:
    job = env.failed_job_id
    series_id = client.get("/api/series", params={"q": env.series_uid}).json()[0]["id"]
    paths = [
        "/",
        "/series",
        f"/series/{series_id}",
        "/jobs",
        f"/jobs/{job}",
        "/rules",
        "/destinations",
        "/anonymizer",
        "/login",
        "/metrics",
        "/api/overview",
        "/api/series",
        f"/api/series/{series_id}",
        "/api/jobs",
        f"/api/jobs/{job}",
        "/api/rules",
        "/api/destinations",
        "/api/anonymizer/batches",
        "/api/openapi.json",
    ]
    answers = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        answers[path] = response.text
    upload = {"file": ("x.dcm", env.files[0].read_bytes(), "application/dicom")}
    answers["POST /rules/test"] = client.post("/rules/test", files=upload).text
    answers["POST /api/rules/test"] = client.post("/api/rules/test", files=upload).text
    return answers


def test_no_phi_anywhere_by_default(web_env: WebEnv) -> None:
    answers = _all_answers(web_env.client, web_env)
    for path, text in answers.items():
        for canary in CANARY_STRINGS:
            assert canary not in text, f"{canary!r} shown by {path}"
    # the pages still identify the series by UID and accession pseudonym
    assert web_env.series_uid in answers["/series"]
    assert "ACC-" in answers["/series"]


def test_rule_tester_hides_the_compared_phi_value(web_env: WebEnv, tmp_path: Path) -> None:
    image = cr_image(tmp_path, CANARY, size=32)
    upload = {"file": ("cr.dcm", image.read_bytes(), "application/dicom")}
    result = web_env.client.post("/api/rules/test", files=upload).json()
    reason = next(d["reason"] for d in result["decisions"] if d["rule"] == "drop-named")
    assert "PatientName='[hidden]'" in reason
    assert result["phi_hidden"] is True


@pytest.fixture(scope="module")
def phi_client(web_env: WebEnv) -> TestClient:
    parts = WebParts.from_node(web_env.node)
    config = web_env.node.config.web.model_copy(update={"show_phi": True})
    return TestClient(create_app(parts, config))


def test_show_phi_true_shows_patient(web_env: WebEnv, phi_client: TestClient) -> None:
    series_id = phi_client.get("/api/series", params={"q": web_env.series_uid}).json()[0]["id"]
    page = phi_client.get(f"/series/{series_id}").text
    assert "CANARYSURNAME^PHIGIVEN" in page and CANARY.patient_id in page
    api = phi_client.get(f"/api/series/{series_id}").json()["series"]["patient"]
    assert api == {
        "PatientName": CANARY.name,
        "PatientID": CANARY.patient_id,
        "PatientBirthDate": CANARY.birth_date,
    }
    # the accession number itself is never shown, only its keyed pseudonym (stable across apps)
    assert CANARY.accession not in page
    default = web_env.client.get(f"/api/series/{series_id}").json()["series"]["accession_pseudonym"]
    assert (
        api is not None
        and default == phi_client.get(f"/api/series/{series_id}").json()["series"]["accession_pseudonym"]
    )
    assert TOKEN not in page
