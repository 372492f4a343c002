"""Keyed pseudonyms: HMAC-SHA256 with a secret key, so the same key gives the same output everywhere.

* UIDs -> ``2.25.<128-bit int>`` (the integer form of a UUID, RFC 9562 version 8 bits set)
* PatientID / PatientName / AccessionNumber -> ``<prefix><base32>``; the name is derived from the
  original PatientID (when there is one) so a patient's pseudonymous name and ID belong together
* one date offset per patient (whole days) inside a configured range

Without the key the pseudonyms cannot be recomputed from the originals (unlike unsalted MD5 UIDs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class Pseudonymizer:
    """Derives every pseudonym from one secret key; thread-safe (the caches only grow)."""

    def __init__(self, key: bytes, prefix: str = "ANON", date_offset_days: tuple[int, int] = (-3650, -365)):
        self._key = bytes(key)
        self.prefix = prefix
        self.date_offset_days = date_offset_days
        self._uids: dict[str, str] = {}
        self._codes: dict[tuple[str, str, int], str] = {}

    def _digest(self, domain: str, value: str) -> bytes:
        message = domain.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.digest(self._key, message, hashlib.sha256)

    def _code(self, domain: str, value: str, length: int) -> str:
        key = (domain, value, length)
        code = self._codes.get(key)
        if code is None:
            code = base64.b32encode(self._digest(domain, value)).decode("ascii")[:length]
            if len(self._codes) < 100_000:  # a batch's patients; bounded for long-running nodes
                self._codes[key] = code
        return code

    def uid(self, uid: str) -> str:
        """The pseudonymous UID of ``uid`` (stable for a key)."""
        cached = self._uids.get(uid)
        if cached is not None:
            return cached
        raw = bytearray(self._digest("uid", uid.strip())[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (custom)
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
        result = "2.25." + str(int.from_bytes(raw, "big"))
        if len(self._uids) < 1_000_000:
            self._uids[uid] = result
        return result

    def patient_id(self, original_id: str) -> str:
        """LO (64 chars): prefix + 16 base32 characters."""
        return f"{self.prefix}{self._code('patient', original_id, 16)}"

    def patient_name(self, original_id: str, original_name: str) -> str:
        """PN: ``<prefix>^<code>``; the code is the one of the patient's ID when the ID is known."""
        source = original_id if original_id else "name:" + original_name
        return f"{self.prefix or 'ANON'}^{self._code('patient', source, 16)}"

    def accession(self, original: str) -> str:
        """SH (16 chars): the prefix shortened so that at least 10 base32 characters remain."""
        head = self.prefix[:6]
        return head + self._code("accession", original, 16 - len(head))

    def date_offset(self, patient_key: str) -> int:
        """Days to add to every date of this patient (same patient -> same offset)."""
        low, high = self.date_offset_days
        span = high - low + 1
        value = int.from_bytes(self._digest("date-offset", patient_key)[:8], "big")
        offset = low + value % span
        if offset == 0 and span > 1:  # never leave dates unchanged when the range allows a shift
            offset = low if low != 0 else high
        return offset
