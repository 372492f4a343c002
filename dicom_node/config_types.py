"""Configuration building blocks shared by :mod:`dicom_node.config` and its sections."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 chars, no backslash or control chars


def _check_ae_title(value: str) -> str:
    if not _AE_TITLE.match(value) or not value.strip():
        raise ValueError("an AE title is 1-16 printable characters without a backslash")
    return value.strip()


AETitle = Annotated[str, AfterValidator(_check_ae_title)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class TLSConfig(_Strict):
    """DICOM TLS (PS3.15 Annex B). Paths to PEM files."""

    cert: Path
    key: Path
    ca: Path | None = Field(default=None, description="CA bundle to verify the peer; None = no verify")
    require_client_cert: bool = False
