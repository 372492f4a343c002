"""Run the web app with uvicorn in a thread beside the node: ``start()`` returns once it listens."""

from __future__ import annotations

import ssl
import threading
import time

import uvicorn
from fastapi import FastAPI

from dicom_node.config import TLSConfig
from dicom_node.errors import ConfigError
from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.web")


class WebServer:
    def __init__(
        self, app: FastAPI, host: str = "127.0.0.1", port: int = 8080, tls: TLSConfig | None = None
    ) -> None:
        self.app = app
        self.tls = tls
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> int:
        """Bind and serve; returns the bound port (useful with port 0). Raises ConfigError if it cannot."""
        tls = self.tls
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            # web.tls: with require_client_cert, no client without a certificate that ca verifies gets a
            # connection (the STOW-RS client-certificate allow-list)
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
            ssl_ca_certs=str(tls.ca) if tls and tls.ca else None,
            ssl_cert_reqs=(
                (ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL)
                if tls and tls.ca
                else ssl.CERT_NONE
            ),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="web-server", daemon=True)
        thread.start()
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            pause.wait(0.02)
        if not server.started:
            server.should_exit = True
            thread.join(timeout)
            raise ConfigError(f"web: cannot serve on {self.host}:{self.port} (address in use or not allowed)")
        sockets = [sock for srv in server.servers for sock in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._server, self._thread = server, thread
        log.info("web_listening", url=self.url)
        return self.port

    def stop(self, timeout: float = 10) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None
