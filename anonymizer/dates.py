"""Shift DA and DT values by whole days (the Modified Dates option); TM stays, so date and time move together.

Intervals between dates of one patient are kept because every date of the patient moves by the same
number of days. A value that cannot be parsed is returned as ``None`` (the caller empties it).
"""

from __future__ import annotations

from datetime import date, timedelta


def shift_da(value: str, days: int) -> str | None:
    """``YYYYMMDD`` (or legacy ``YYYY.MM.DD``) plus ``days``; None when unparsable."""
    text = value.strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        moved = date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return moved.strftime("%Y%m%d")


def shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of a DT value (``YYYY[MM[DD[hhmmss.ffffff]]][&ZZXX]``); None when unparsable."""
    text = value.strip()
    if len(text) < 8:  # year or year-month only: shift would not be meaningful
        return None
    head = shift_da(text[:8], days)
    return None if head is None else head + text[8:]


def shift_value(vr: str, value: str, days: int) -> str | None:
    """Shift each value of a multi-valued DA/DT string; None when any part is unparsable."""
    shift = shift_da if vr == "DA" else shift_dt
    parts = []
    for part in value.split("\\"):
        moved = shift(part, days)
        if moved is None:
            return None
        parts.append(moved)
    return "\\".join(parts)
