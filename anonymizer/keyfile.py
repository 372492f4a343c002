"""The secret HMAC key: read it, or create it (32 random bytes, hex, mode 0600) on first use."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from anonymizer.errors import AnonymizationError

log = logging.getLogger(__name__)
MIN_KEY_BYTES = 16


def load_or_create_key(path: Path) -> bytes:
    """Return the key stored at ``path``; create the file (and its folder) when it does not exist."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created by a concurrent process: read theirs
            return _read_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.info("anonymizer_key_created", extra={"path": str(path)})
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_bytes().strip()
    except OSError as exc:
        raise AnonymizationError(f"{path}: cannot read key file ({exc.strerror})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("anonymizer_key_file_permissive", extra={"path": str(path), "mode": f"{mode & 0o777:o}"})
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = text
    if len(key) < MIN_KEY_BYTES:
        raise AnonymizationError(f"{path}: key file holds fewer than {MIN_KEY_BYTES} bytes")
    return key
