"""Every attribute of a file at any depth, as (prefix, tag, VR, text) leaves, for the residual check.

:func:`file_leaves` reads the encoded bytes directly (little endian, explicit or implicit VR: the raw
engine's scanner), which is what keeps the check cheap enough to run on every output; anything else (big
endian, deflated, a standard sequence sent as UN, no preamble) goes through pydicom
(:func:`dataset_leaves`). Both give the same leaves. Leaves are the string elements (text decoded with
the file's character set when not plain ASCII) and every private element (text None unless a string);
standard binary elements and the sequences themselves give no leaf (the items' elements do). Private
sequences are not entered: the private rule judges the sequence as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO

from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from anonymizer.engine import _dictionary_vr
from anonymizer.raw_codec import ITEM, SEQUENCE_END, STRING_VRS, UNDEFINED, Fallback
from anonymizer.raw_scan import Element, decode_value, scan, scan_meta, transfer_syntax

Leaf = tuple[str, int, str, str | None]  # prefix (path of the item it is in), tag, VR, text
PIXEL_DATA = 0x7FE00010
TEXT_VRS = STRING_VRS | {"UN"}
_LITTLE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
_ITEM_HEADER_BYTES = 8


Wanted = Callable[[int, str], bool] | None  # (tag, VR) -> give a leaf for this standard element?


def file_leaves(data: bytes, wanted: Wanted = None) -> list[Leaf]:
    """The leaves of one encoded file (raw when possible, else through pydicom); ``wanted`` filters the
    standard string elements (private ones always come)."""
    try:
        return _raw_file(data, wanted)
    except Exception:  # Fallback, or anything unusual: pydicom is the reference reader
        ds = dcmread(BytesIO(data), force=True)
        return list(dataset_leaves(ds, wanted=wanted))


def _raw_file(data: bytes, wanted: Wanted) -> list[Leaf]:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise Fallback("no preamble")
    meta, pos = scan_meta(data)
    syntax = transfer_syntax(data, meta)
    explicit = syntax != "1.2.840.10008.1.2"
    if syntax in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99") or not syntax:
        raise Fallback("big endian or deflated")
    elements, _ = scan(data, pos, len(data), explicit)
    charset = next((e for e in elements if e[0] == 0x00080005), None)
    encodings = ["iso8859"]
    if charset is not None:
        encodings = convert_encodings(decode_value(data, charset, explicit, []) or None)
    return _raw(data, elements, explicit, encodings, "", wanted)


def _raw(
    data: bytes, elements: list[Element], explicit: bool, encodings: list[str], prefix: str, wanted: Wanted
) -> list[Leaf]:
    out: list[Leaf] = []
    for element in elements:
        tag, vr, length, _, start, stop = element
        if vr == "UN" and _dictionary_vr(tag) != "UN":
            raise Fallback("a standard attribute encoded as UN")
        if vr == "SQ" or (length == UNDEFINED and tag != PIXEL_DATA):
            if tag >> 16 & 1:
                out.append((prefix, tag, "SQ", None))
                continue
            nested = f"{prefix}{path_of('', tag)}"
            for index, item in enumerate(_items(data, start, stop, explicit)):
                out.extend(_raw(data, item, explicit, encodings, f"{nested}[{index}]/", wanted))
        elif vr in TEXT_VRS and tag != PIXEL_DATA:
            if wanted is not None and not tag >> 16 & 1 and not wanted(tag, vr):
                continue
            value = data[start:stop]
            if value.isascii():
                out.append((prefix, tag, vr, value.decode("ascii").rstrip(" \0")))
            else:
                out.append((prefix, tag, vr, _text(decode_value(data, element, explicit, encodings))))
        elif tag >> 16 & 1:
            out.append((prefix, tag, vr, None))
    return out


def path_of(prefix: str, tag: int) -> str:
    """The attribute path of a leaf: ``(GGGG,EEEE)[item]/(GGGG,EEEE)``."""
    return f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _items(data: bytes, start: int, stop: int, explicit: bool) -> Iterator[list[Element]]:
    pos = start
    while pos + _ITEM_HEADER_BYTES <= stop:
        group = int.from_bytes(data[pos : pos + 2], "little")
        element = int.from_bytes(data[pos + 2 : pos + 4], "little")
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        tag = group << 16 | element
        if tag == SEQUENCE_END:
            return
        if tag != ITEM:
            raise Fallback("unexpected element in a sequence")
        end = pos + 8 + length if length != UNDEFINED else stop
        elements, pos = scan(data, pos + 8, end, explicit)
        yield elements


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1").rstrip(" \0")
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def dataset_leaves(ds: Dataset, prefix: str = "", wanted: Wanted = None) -> Iterator[Leaf]:
    """The leaves of a pydicom dataset (any transfer syntax; sequences stored as UN included)."""
    for tag_obj in list(ds.keys()):
        tag = int(tag_obj)
        raw = ds.get_item(tag_obj)
        vr = raw.VR or _dictionary_vr(tag)
        if vr == "UN" and _dictionary_vr(tag) != "UN":
            vr = _dictionary_vr(tag)
        undefined = isinstance(raw, RawDataElement) and raw.length == UNDEFINED and tag != PIXEL_DATA
        if vr == "SQ" or undefined:
            value = ds[tag_obj].value
            if isinstance(value, Sequence):
                if tag >> 16 & 1:
                    yield prefix, tag, "SQ", None
                    continue
                nested = path_of(prefix, tag)
                for index, item in enumerate(value):
                    yield from dataset_leaves(item, f"{nested}[{index}]/", wanted)
                continue
        if vr in TEXT_VRS and tag != PIXEL_DATA:
            if wanted is not None and not tag >> 16 & 1 and not wanted(tag, vr):
                continue
            yield prefix, tag, vr, _text(ds[tag_obj].value)
        elif tag >> 16 & 1:
            yield prefix, tag, vr, None
