"""Operations web server: dashboard pages, REST API, Prometheus ``/metrics``, ``/healthz`` and ``/readyz``.

Read-only without login; actions (retry, discard, echo, output download) need an API token
(``Authorization: Bearer``) or a login session. Patient identity is hidden unless ``web.show_phi``.
"""

from __future__ import annotations

from dicom_node.web.app import create_app
from dicom_node.web.context import WebParts
from dicom_node.web.server import WebServer

__all__ = ["WebParts", "WebServer", "create_app"]
