"""Tokens, logins (argon2 hashes), sessions with CSRF, and the web configuration checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dicom_node.config import WebConfig
from dicom_node.errors import ConfigError
from dicom_node.web.auth import SESSION_COOKIE, hash_password, verify_password
from tests.support.node import make_config
from tests.web.conftest import PASSWORD, USER, WebEnv


def test_argon2_hash_round_trip() -> None:
    stored = hash_password("s3cret-pass")
    assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored
    assert verify_password(stored, "s3cret-pass")
    assert not verify_password(stored, "s3cret-pasS")
    assert not verify_password("$argon2id$broken", "anything")


def test_config_refuses_plain_passwords_and_short_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web\.users: alice: .*hash"):
        make_config(tmp_path, web={"users": {"alice": "plain-password"}})
    with pytest.raises(ConfigError, match=r"web\.tokens"):
        make_config(tmp_path, web={"tokens": ["short"]})
    with pytest.raises(ConfigError, match=r"web\.colour"):
        make_config(tmp_path, web={"colour": "blue"})


def test_secrets_are_masked_in_dumps() -> None:
    config = WebConfig(tokens=["x" * 20], users={"bob": hash_password("pw")})
    dumped = repr(config) + str(config.model_dump())
    assert "x" * 20 not in dumped and "$argon2" not in dumped


def _login(env: WebEnv, password: str) -> tuple[int, str | None]:
    env.client.cookies.clear()
    response = env.client.post(
        "/login", data={"username": USER, "password": password, "next": "/jobs"}, follow_redirects=False
    )
    return response.status_code, response.cookies.get(SESSION_COOKIE)


def test_login_session_and_csrf(web_env: WebEnv) -> None:
    status, cookie = _login(web_env, "wrong password")
    assert status == 401 and cookie is None
    status, cookie = _login(web_env, PASSWORD)
    assert status == 303 and cookie
    try:
        page = web_env.client.get(f"/jobs/{web_env.failed_job_id}").text
        assert USER in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        # an API call with the session cookie but without the CSRF header is refused
        path = "/api/destinations/loopback/echo"
        assert web_env.client.post(path).status_code == 403
        assert web_env.client.post(path, headers={"X-CSRF-Token": csrf.group(1)}).json()["ok"] is True
        # a page form without the right CSRF field goes to the login page and changes nothing
        response = web_env.client.post(
            f"/jobs/{web_env.failed_job_id}/discard", data={"csrf": "forged"}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        assert web_env.job_state(web_env.failed_job_id) == "failed"
    finally:
        web_env.client.post("/logout")
        web_env.client.cookies.clear()
    assert web_env.client.post("/api/destinations/loopback/echo").status_code == 401


def test_login_never_redirects_off_site(web_env: WebEnv) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        web_env.client.cookies.clear()
        response = web_env.client.post(
            "/login", data={"username": USER, "password": PASSWORD, "next": target}, follow_redirects=False
        )
        assert response.headers["location"].startswith("/?done=login"), target
    web_env.client.post("/logout")
    web_env.client.cookies.clear()
