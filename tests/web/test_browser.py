"""The dashboard in a real browser: Debian chromium driven by Playwright (no browser download).

Sends a study, loads the overview, opens the job, logs in, presses Retry on a failed job once its PACS
is up, and watches the state change to delivered. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pynetdicom import AE, AllStoragePresentationContexts, evt

from dicom_node.samples import Patient, cr_image
from dicom_node.web import WebServer, create_app
from tests.web.conftest import CANARY_STRINGS, PASSWORD, USER, WebEnv, wait_failed_job

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"chromium cannot start here: {str(exc).splitlines()[0]}")
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def base_url(web_env: WebEnv) -> Iterator[str]:
    server = WebServer(create_app(web_env.node), "127.0.0.1", 0)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Pacs:
    """A minimal storage SCP that accepts everything (the PACS coming back after an outage)."""

    def __init__(self, port: int) -> None:
        self.received: list[str] = []
        ae = AE(ae_title="LATER_PACS")
        ae.supported_contexts = AllStoragePresentationContexts
        handlers: list[Any] = [(evt.EVT_C_STORE, self._store)]
        server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
        assert server is not None
        self.server = server

    def _store(self, event: Any) -> int:
        self.received.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    def stop(self) -> None:
        self.server.shutdown()


def test_overview_job_login_and_retry(web_env: WebEnv, base_url: str, page: Any, tmp_path: Path) -> None:
    image = cr_image(tmp_path, Patient(name="BROWSER^CANARYCR"), size=32)
    series_uid = str(dcmread(image, stop_before_pixels=True).SeriesInstanceUID)
    web_env.send([image])
    job_id = wait_failed_job(web_env.node, series_uid, rule="to-later")

    # overview: the series we sent is listed, no patient identity on the page
    page.goto(base_url + "/")
    assert page.title().startswith("Overview")
    assert page.get_by_text(series_uid).first.is_visible()
    text = page.content()
    assert "BROWSER" not in text and not any(c in text for c in CANARY_STRINGS)
    shot(page, "01-overview")

    # open the failed job from the overview's job table
    page.locator(f"a.job-link[href='/jobs/{job_id}']").first.click()
    page.wait_for_url(f"**/jobs/{job_id}")
    assert page.locator("#job-state").inner_text() == "failed"
    assert "later" in page.locator("#job-error").inner_text()
    shot(page, "02-job-failed")

    # retry needs a login: the button leads to the login form, which comes back to the job
    page.locator("#retry").click()
    page.wait_for_url(re.compile(r"/login\?next=/jobs/\d+$"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.locator("#login").click()
    page.wait_for_url(re.compile(rf"/jobs/{job_id}\?done=login$"))
    assert page.locator("#job-state").inner_text() == "failed"

    # the PACS is back: press Retry and watch the job reach the destination
    pacs = Pacs(web_env.extra["later_port"])
    try:
        page.locator("#retry").click()
        page.wait_for_url(re.compile(rf"/jobs/{job_id}\?done=retried$"))
        assert page.locator("#notice").inner_text() == "Job re-queued."
        shot(page, "03-job-retried")
        deadline = time.monotonic() + 30
        while page.locator("#job-state").inner_text() != "delivered" and time.monotonic() < deadline:
            page.wait_for_timeout(300)
            page.reload()
        assert page.locator("#job-state").inner_text() == "delivered"
        assert page.get_by_text("retried by an operator: failed → produced").is_visible()
        assert page.locator("#retry").count() == 0
        shot(page, "04-job-delivered")
    finally:
        pacs.stop()
    assert len(pacs.received) == 1
    assert web_env.job_state(job_id) == "delivered"


def test_rule_tester_in_the_browser(web_env: WebEnv, base_url: str, page: Any) -> None:
    page.goto(base_url + "/rules")
    page.set_input_files("input[type=file]", str(web_env.files[0]))
    page.locator("#test-rules").click()
    page.wait_for_selector("#decisions")
    rows = page.locator("#decisions tbody tr")
    assert rows.count() == 3
    assert "fires" in rows.nth(0).inner_text()
    shot(page, "05-rule-tester")
