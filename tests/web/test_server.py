"""The web server beside the node: a thread with start()/stop(), and `dicom-node serve` serving HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from dicom_node.errors import ConfigError
from dicom_node.web import WebServer, create_app
from tests.support.node import NodeProcess
from tests.support.ports import free_port, port_open, wait_for
from tests.web.conftest import WebEnv


def test_web_server_binds_serves_and_stops(web_env: WebEnv) -> None:
    server = WebServer(create_app(web_env.node), "127.0.0.1", 0)
    port = server.start()
    try:
        assert port > 0
        assert httpx.get(f"{server.url}/healthz", timeout=5).json()["status"] == "ok"
    finally:
        server.stop()
    assert not port_open(port)


def test_web_server_reports_a_busy_port(web_env: WebEnv) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            WebServer(create_app(web_env.node), "127.0.0.1", port).start(timeout=10)


def test_serve_starts_and_stops_the_web_server(tmp_path: Path) -> None:
    web_port = free_port()
    process = NodeProcess(tmp_path, web={"port": web_port})
    process.start()
    try:
        wait_for(lambda: port_open(web_port), timeout=30, what="the web port of dicom-node serve")
        ready = httpx.get(f"http://127.0.0.1:{web_port}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"]["receiver"] is True
        assert "dicom_node_queue_depth" in httpx.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10).text
    finally:
        process.stop()
    assert not port_open(web_port)
