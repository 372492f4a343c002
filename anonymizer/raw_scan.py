"""Reading for the raw engine: one pass over a dataset's element headers, and decoded values on demand.

:func:`scan` lists the elements of one dataset level (nested sequences are skipped over, not read).
:func:`decode_value` returns the value pydicom would return for an element: plain ASCII strings and
unsigned/signed integers are decoded here, anything else (other character sets, multiple values, person
names with groups, ambiguous VRs) through pydicom's own conversion. :class:`Probe` offers the few
``Dataset.get`` / ``in`` calls the burned-in check and the pseudonyms make on the top level.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import keyword_dict
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import Tag

from anonymizer.raw_codec import (
    ITEM_END,
    LONG_VRS,
    STRING_VRS,
    UNDEFINED,
    Fallback,
    TruncatedData,
    read_header,
    skip_undefined,
    vr_of,
)

# tag, VR, length as read (UNDEFINED for undefined), element start, value start, element end
Element = tuple[int, str, int, int, int, int]
ALL_VRS = [
    "AE",
    "AS",
    "AT",
    "CS",
    "DA",
    "DS",
    "DT",
    "FL",
    "FD",
    "IS",
    "LO",
    "LT",
    "OB",
    "OD",
    "OF",
    "OL",
    "OV",
    "OW",
    "PN",
    "SH",
    "SL",
    "SQ",
    "SS",
    "ST",
    "SV",
    "TM",
    "UC",
    "UI",
    "UL",
    "UN",
    "UR",
    "US",
    "UT",
    "UV",
]
_VR_INFO = {vr.encode("ascii"): (vr, vr in LONG_VRS) for vr in ALL_VRS}
VR_BYTES = frozenset(_VR_INFO)
_SHORT = struct.Struct("<HH2sH")
_TAG = struct.Struct("<HH")
_U32 = struct.Struct("<L")
_INTS = {
    "US": struct.Struct("<H"),
    "SS": struct.Struct("<h"),
    "UL": struct.Struct("<L"),
    "SL": struct.Struct("<l"),
}


def scan(buf: bytes, pos: int, end: int, explicit: bool) -> tuple[list[Element], int]:
    """Elements from ``pos`` to ``end`` (or to an item delimiter), and the position after them."""
    out: list[Element] = []
    while pos < end:
        if explicit:
            group, element, vr_bytes, length = _SHORT.unpack_from(buf, pos)
            tag = group << 16 | element
            info = _VR_INFO.get(vr_bytes)
            if info is None:
                if group == 0xFFFE:
                    if tag == ITEM_END:
                        return out, pos + 8
                    raise Fallback("unexpected item")
                raise Fallback(f"unreadable VR at offset {pos}")
            vr = info[0]
            if info[1]:
                length = _U32.unpack_from(buf, pos + 8)[0]
                start = pos + 12
            else:
                start = pos + 8
        else:
            group, element = _TAG.unpack_from(buf, pos)
            tag = group << 16 | element
            if group == 0xFFFE:
                if tag == ITEM_END:
                    return out, pos + 8
                raise Fallback("unexpected item")
            length = _U32.unpack_from(buf, pos + 4)[0]
            start = pos + 8
            vr = "LO" if group & 1 and 0x10 <= element <= 0xFF else vr_of(tag)
        stop = start + length if length != UNDEFINED else skip_undefined(buf, start, explicit and vr != "UN")
        out.append((tag, vr, length, pos, start, stop))
        pos = stop
    if pos != end:
        raise TruncatedData(f"an element ends at byte {pos}, past the end of the data ({end})")
    return out, pos


def decode_value(buf: bytes, element: Element, explicit: bool, encodings: list[str]) -> Any:
    """The value pydicom gives this element (``Dataset.get`` semantics; pixel data is never asked)."""
    tag, vr, _, _, start, stop = element
    value = buf[start:stop]
    if vr in STRING_VRS and vr not in ("IS", "DS"):
        plain = b"\\" not in value and b"\x1b" not in value and (vr != "PN" or b"=" not in value)
        if plain and value.isascii():
            return value.decode("ascii").rstrip(" \0")
    elif vr in _INTS and len(value) == _INTS[vr].size:
        return _INTS[vr].unpack(value)[0]
    raw = RawDataElement(Tag(tag), vr if explicit else None, len(value), value, 0, not explicit, True)
    return convert_raw_data_element(raw, encoding=encodings).value


class Probe:
    """Stand-in for the top-level dataset in the checks: ``get(keyword, default)`` and ``tag in probe``."""

    def __init__(self, buf: bytes, elements: list[Element], explicit: bool) -> None:
        self._buf = buf
        self._explicit = explicit
        self._by_tag = {e[0]: e for e in elements}
        self._cache: dict[int, Any] = {}
        self.encodings: list[str] = []
        charset = self.get("SpecificCharacterSet")
        from pydicom.charset import convert_encodings

        self.encodings = convert_encodings(charset or None)

    def __contains__(self, key: object) -> bool:
        tag = keyword_dict.get(key) if isinstance(key, str) else key
        return tag in self._by_tag

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = keyword_dict[keyword]
        if tag in self._cache:
            return self._cache[tag]
        element = self._by_tag.get(tag)
        if element is None:
            return default
        value = decode_value(self._buf, element, self._explicit, self.encodings or ["iso8859"])
        self._cache[tag] = value
        return value


def scan_meta(buf: bytes) -> tuple[list[Element], int]:
    """The file meta elements (group 0002, explicit VR little endian) after the preamble."""
    pos = 132
    while pos + 8 <= len(buf) and buf[pos : pos + 2] == b"\x02\x00":
        _, _, length, start = read_header(buf, pos, True)
        if length == UNDEFINED:
            raise Fallback("undefined length in the file meta")
        pos = start + length
    return scan(buf, 132, pos, True)


def transfer_syntax(buf: bytes, meta: list[Element]) -> str:
    """The Transfer Syntax UID in the file meta ('' when missing)."""
    for tag, _, _, _, start, stop in meta:
        if tag == 0x00020010:
            return buf[start:stop].decode("ascii", "replace").rstrip("\0 ")
    return ""
