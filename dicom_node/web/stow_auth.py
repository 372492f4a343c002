"""Who may store with STOW-RS: the allow-list of ``web.stow.clients`` (the AE-title list of DICOMweb).

A client is known by a bearer token read from its ``token_file`` (compared in constant time with every
token), or, for the one ``client_certificate`` client, by a connection whose client certificate the web
server's TLS layer verified against ``web.tls.ca`` (``require_client_cert``: unverified clients never
get a connection). The client's ``name`` is recorded as the calling AE title of what it stores.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from dicom_node.config import WebConfig
from dicom_node.errors import ConfigError

MIN_TOKEN_LENGTH = 16


def _read_token(name: str, path: str) -> bytes:
    try:
        token = open(path, "rb").read().strip()  # noqa: SIM115 - small secret file, read once
    except OSError as exc:
        raise ConfigError(
            f"web.stow.clients ({name}).token_file: cannot read {path}: {exc.strerror}"
        ) from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"web.stow.clients ({name}).token_file: a token needs at least {MIN_TOKEN_LENGTH} characters"
        )
    return token


class StowGate:
    def __init__(self, config: WebConfig) -> None:
        stow = config.stow
        self.enabled = stow.enabled
        self._tokens = [
            (client.name, _read_token(client.name, str(client.token_file)))
            for client in stow.clients
            if client.token_file is not None
        ]
        certified = [c.name for c in stow.clients if c.client_certificate]
        self._certificate_client = certified[0] if certified else None

    def client(self, request: Request) -> str:
        """The allowed client's name, or an HTTP error: 403 (disabled), 401 (no or unknown credentials)."""
        if not self.enabled:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "STOW-RS is disabled on this node (web.stow)")
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, credentials = header.partition(" ")
            given = credentials.strip().encode("utf-8", "replace")
            found = None
            for name, token in self._tokens:  # every comparison runs: timing tells nothing
                if hmac.compare_digest(given, token) and scheme.lower() == "bearer":
                    found = name
            if found is not None:
                return found
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if self._certificate_client is not None and request.url.scheme == "https":
            return self._certificate_client  # the TLS layer accepted only CA-verified client certificates
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "STOW-RS needs a bearer token or a client certificate",
            headers={"WWW-Authenticate": "Bearer"},
        )
