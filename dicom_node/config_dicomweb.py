"""Configuration of DICOMweb: STOW-RS receive (``web.stow``) and ``type: dicomweb`` destinations."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from dicom_node.config_types import AETitle, _Strict


class DicomWebDestinationConfig(_Strict):
    """A DICOMweb archive: results are sent with STOW-RS (``POST {url}/studies``)."""

    type: Literal["dicomweb"]
    url: str = Field(description="the DICOMweb service root, e.g. https://pacs.example.org/dicom-web")
    token_file: Path | None = Field(
        default=None, description="file holding a bearer token (sent as Authorization: Bearer <token>)"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra request headers, e.g. Authorization: Basic ..."
    )
    verify_tls: bool = Field(default=True, description="verify the server's certificate (https)")
    ca: Path | None = Field(default=None, description="CA bundle for verify_tls; None = system CAs")
    client_cert: Path | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    client_key: Path | None = None
    timeout_s: float = Field(default=60, gt=0)
    max_request_mb: float = Field(default=64, gt=0, description="objects per STOW-RS request, by size")
    ae_title: AETitle | None = Field(
        default=None, description="the archive's AE title when it also sends to the node over DIMSE"
    )
    source_aets: list[AETitle] = Field(
        default_factory=list,
        description="calling AE titles / STOW-RS client names this destination stands for as a source",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL with a host")
        return value.rstrip("/")


class StowClient(_Strict):
    """One client allowed to send with STOW-RS: by bearer token (read from a file) or client certificate."""

    name: AETitle = Field(
        description="recorded as the calling AE title of what it sends (routing, source_aets, dashboard)"
    )
    token_file: Path | None = Field(default=None, description="file whose content is the bearer token")
    client_certificate: bool = Field(
        default=False,
        description="any client whose certificate web.tls.ca verified (web.tls.require_client_cert)",
    )

    @model_validator(mode="after")
    def _one_way(self) -> StowClient:
        if (self.token_file is None) == (not self.client_certificate):
            raise ValueError("give exactly one of token_file or client_certificate: true")
        return self


class StowConfig(_Strict):
    """STOW-RS receive (``POST /dicom-web/studies``) on the web server."""

    enabled: bool = False
    clients: list[StowClient] = Field(default_factory=list, description="who may store (required)")
    max_instance_mb: float = Field(default=2048, gt=0, description="a larger part fails alone (0xA700)")
    max_request_mb: float = Field(default=16384, gt=0, description="a larger request is refused (413)")

    @model_validator(mode="after")
    def _clients(self) -> StowConfig:
        if self.enabled and not self.clients:
            raise ValueError("clients: STOW-RS needs at least one client (token_file or client_certificate)")
        if sum(c.client_certificate for c in self.clients) > 1:
            raise ValueError("clients: at most one client may be client_certificate: true")
        return self
