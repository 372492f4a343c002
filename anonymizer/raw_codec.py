"""Byte-level DICOM encoding for the raw engine: element headers, skipping undefined lengths, new values.

Little endian only (explicit or implicit VR). Anything this module does not handle raises
:class:`Fallback`, and the caller uses the pydicom-based engine for that file instead.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
NUMBER_FORMATS = {
    "FL": "<f",
    "FD": "<d",
    "SL": "<l",
    "SS": "<h",
    "UL": "<L",
    "US": "<H",
    "SV": "<q",
    "UV": "<Q",
}
_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")


class TruncatedData(Exception):
    """An element claims more bytes than the file holds: the file is broken, not merely unusual.

    Reported and skipped by the batch (never "repaired" by the dataset engine, which would write a
    well-formed header around missing pixel data)."""


class Fallback(Exception):
    """The raw engine does not handle this file; the pydicom-based engine must."""


@cache
def vr_of(tag: int) -> str:
    """The dictionary VR of ``tag`` (``UN`` when unknown)."""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def read_header(buf: bytes, pos: int, explicit: bool) -> tuple[int, str | None, int, int]:
    """(tag, VR or None when implicit, value length, value start) of the element at ``pos``."""
    group, element = _TAG.unpack_from(buf, pos)
    tag = group << 16 | element
    if tag >> 16 == 0xFFFE or not explicit:
        return tag, None, _U32.unpack_from(buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4 : pos + 6].decode("ascii", "replace")
    if vr in LONG_VRS:
        return tag, vr, _U32.unpack_from(buf, pos + 8)[0], pos + 12
    if not vr.isalpha() or not vr.isupper():
        raise Fallback(f"unreadable VR at offset {pos}")
    return tag, vr, _U16.unpack_from(buf, pos + 6)[0], pos + 8


def skip_undefined(buf: bytes, pos: int, explicit: bool) -> int:
    """End of an undefined-length value (sequence or encapsulated pixel data) starting at ``pos``."""
    while True:
        tag, _, length, start = read_header(buf, pos, explicit)
        if tag == SEQUENCE_END:
            return start
        if tag != ITEM:
            raise Fallback("unexpected element inside an undefined-length value")
        pos = skip_item_dataset(buf, start, explicit) if length == UNDEFINED else start + length


def skip_item_dataset(buf: bytes, pos: int, explicit: bool) -> int:
    """End (after the item delimiter) of an undefined-length item starting at ``pos``."""
    while True:
        tag, vr, length, start = read_header(buf, pos, explicit)
        if tag == ITEM_END:
            return start
        pos = start + length if length != UNDEFINED else skip_undefined(buf, start, explicit and vr != "UN")
        if pos > len(buf):
            raise Fallback("truncated item")


def header(tag: int, vr: str, length: int, explicit: bool) -> bytes:
    """An element header for a value of ``length`` bytes."""
    head = _TAG.pack(tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + _U32.pack(length)
    if vr in LONG_VRS:
        return head + vr.encode("ascii") + b"\0\0" + _U32.pack(length)
    if length > 0xFFFF:
        raise Fallback("value too long for its VR")
    return head + vr.encode("ascii") + _U16.pack(length)


def sequence(tag: int, items: list[bytes], explicit: bool) -> bytes:
    """A defined-length sequence of the given item bodies."""
    body = b"".join(_TAG.pack(0xFFFE, 0xE000) + _U32.pack(len(item)) + item for item in items)
    return header(tag, "SQ", len(body), explicit) + body


def text_element(tag: int, vr: str, text: str, explicit: bool) -> bytes:
    """An element holding ASCII ``text`` (pseudonyms, UIDs, dummies), padded to even length."""
    value = text.encode("ascii")
    if len(value) & 1:
        value += b"\0" if vr == "UI" else b" "
    return header(tag, vr, len(value), explicit) + value


def value_element(tag: int, vr: str, value: Any, explicit: bool) -> bytes:
    """An element holding a dummy ``value`` (str, number or bytes) of ``vr``."""
    if isinstance(value, str):
        return text_element(tag, vr, value, explicit)
    if isinstance(value, bytes | bytearray):
        data = bytes(value) + (b"\0" if len(value) & 1 else b"")
        return header(tag, vr, len(data), explicit) + data
    fmt = NUMBER_FORMATS.get(vr)
    if fmt is None:
        raise Fallback(f"no encoding for a {vr} dummy")
    data = struct.pack(fmt, value)
    return header(tag, vr, len(data), explicit) + data


def empty_element(tag: int, vr: str, explicit: bool) -> bytes:
    return header(tag, vr, 0, explicit)


def pydicom_element(elem: DataElement, explicit: bool, encodings: list[str]) -> bytes:
    """Encode a decoded element exactly as pydicom writes it (used for the rare cleaned values)."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = not explicit
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def is_empty_value(vr: str, value: bytes) -> bool:
    """pydicom's ``is_empty`` for an undecoded value: strings of only spaces and NULs are empty."""
    if vr in STRING_VRS:
        return not value.strip(b" \0")
    return not value
