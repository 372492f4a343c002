"""SSL contexts for DICOM TLS (PS3.15 Annex B), built from the configuration."""

from __future__ import annotations

import ssl

from dicom_node.config import TLSConfig
from dicom_node.errors import ConfigError


def _load(context: ssl.SSLContext, tls: TLSConfig) -> ssl.SSLContext:
    try:
        context.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
        if tls.ca:
            context.load_verify_locations(cafile=str(tls.ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls: cannot load certificate/key/CA ({exc})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    context = _load(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), tls)
    context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_NONE
    return context


def client_context(tls: TLSConfig) -> ssl.SSLContext:
    context = _load(ssl.create_default_context(ssl.Purpose.SERVER_AUTH), tls)
    context.check_hostname = False  # PACS certificates rarely name the host; trust comes from the CA
    context.verify_mode = ssl.CERT_REQUIRED if tls.ca else ssl.CERT_NONE
    return context
