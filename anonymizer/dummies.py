"""Dummy values by VR (the D action) and the identity scrubber used by the C (clean) action on text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

DUMMY_TEXT = "ANONYMIZED"
DUMMY_VALUES: dict[str, Any] = {
    "AE": "ANONYMIZED",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
    "UC": DUMMY_TEXT,
    "PN": "ANONYMIZED",
    "UR": "urn:anonymized",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
}
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "AE", "CS"})
DATE_VRS = frozenset({"DA", "DT"})


def dummy_value(vr: str, current: Any) -> Any:
    """A value of ``vr`` that carries no information; binary values become zero bytes of equal length."""
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return bytes(len(current)) if isinstance(current, bytes | bytearray) else b""
    return DUMMY_VALUES.get(vr, "")


def identity_tokens(values: Iterable[Any]) -> list[str]:
    """Split identity values (names, IDs, dates, institutions) into tokens worth scrubbing."""
    tokens: set[str] = set()
    for value in values:
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            text = str(item).strip()
            if len(text) >= 3:
                tokens.add(text)
            for part in re.split(r"[\^=\\,\s]+", text):
                if len(part) >= 3:
                    tokens.add(part)
    return sorted(tokens, key=len, reverse=True)


class Scrubber:
    """Replaces every identity token found in a text with ``*`` (one compiled regex per dataset)."""

    def __init__(self, tokens: list[str]):
        self._pattern = (
            re.compile(
                r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(t) for t in tokens) + r")(?![A-Za-z0-9])",
                re.IGNORECASE,
            )
            if tokens
            else None
        )

    def clean(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub("*", text)

    def found(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None
