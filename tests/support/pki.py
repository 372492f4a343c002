"""A throw-away test CA with a server certificate for 127.0.0.1 and a client certificate (openssl)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed(folder: Path, name: str, common_name: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate ``<name>.crt`` and its key ``<name>.key`` (CN ``common_name`` or name)."""
    key, crt = folder / f"{name}.key", folder / f"{name}.crt"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={common_name or name}",
        "-keyout",
        str(key),
        "-out",
        str(crt),
    )
    return key, crt


def make_pki(folder: Path) -> Path:
    """ca.crt/key, server.crt/key (SAN IP:127.0.0.1), client.crt/key, all signed by the CA."""
    folder.mkdir(parents=True, exist_ok=True)
    key, crt = (str(path) for path in self_signed(folder, "ca", "test-ca"))
    extensions = folder / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(folder / f"{name}.key"),
            "-out",
            str(folder / f"{name}.csr"),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(folder / f"{name}.csr"),
            "-CA",
            crt,
            "-CAkey",
            key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(extensions),
            "-out",
            str(folder / f"{name}.crt"),
        )
    return folder
