"""The raw engine: the same walk as :class:`anonymizer.engine.Anonymizer`, on the file's bytes.

Used by the batch command and the node route. Elements are acted on without decoding where the action
does not need the value: X drops the bytes, Z writes an empty value, D writes a dummy of the element's VR,
K copies the bytes. Only pseudonymised names/IDs, UIDs, cleaned values and the attributes the burned-in
check reads are decoded (through pydicom, so values are the ones the dataset engine sees). Output keeps
the input's transfer syntax; sequences and items are written with defined lengths; the preamble is zeroed.

Files it does not handle (big endian, deflated, no preamble, pixel cleaning, ambiguous or UN-encoded
standard attributes that need a value) raise :class:`anonymizer.raw_codec.Fallback`; use the dataset
engine for those. ``tests/anonymizer/test_raw_engine.py`` checks that both engines agree.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import cast

from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from anonymizer import pixels
from anonymizer.deid_attributes import write_deidentification_attributes
from anonymizer.dummies import DUMMY_TEXT, Scrubber, dummy_value
from anonymizer.engine import (
    ACCESSION,
    IDENTITY_KEYWORDS,
    PATIENT_ID,
    PATIENT_NAME,
    TEXT_VALUE,
    UNFORMATTED_TEXT,
    AnonymizationResult,
    Anonymizer,
    IdentityMapping,
    _Run,
)
from anonymizer.errors import AnonymizationRefused
from anonymizer.options import Option
from anonymizer.raw_codec import (
    ITEM,
    SEQUENCE_END,
    STRING_VRS,
    UNDEFINED,
    Fallback,
    TruncatedData,
    empty_element,
    header,
    is_empty_value,
    pydicom_element,
    read_header,
    sequence,
    text_element,
    value_element,
    vr_of,
)
from anonymizer.raw_scan import VR_BYTES, Element, Probe, decode_value, scan, scan_meta, transfer_syntax
from anonymizer.table import Action

IMPLICIT_LE, BIG_ENDIAN, DEFLATED = "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"
SOP_INSTANCE, SOP_CLASS, CHARSET, MEDIA_INSTANCE = 0x00080018, 0x00080016, 0x00080005, 0x00020003
PIXEL_DATA = 0x7FE00010
_PSEUDONYM_TAGS = (PATIENT_NAME, PATIENT_ID, ACCESSION)
_ITEM = struct.Struct("<HHL")
_CONTENT_TEXT = frozenset({TEXT_VALUE, UNFORMATTED_TEXT})
_REMOVE, _EMPTY, _DUMMY, _CLEAN = Action.REMOVE, Action.EMPTY, Action.DUMMY, Action.CLEAN
_UNRESOLVED, _PRIVATE = object(), object()
Chunks = list[tuple[int, bytes]]


@dataclass
class RawResult:
    """Output bytes plus what :class:`AnonymizationResult` says, and the pseudonymised identity."""

    data: bytes
    actions: dict[str, int]
    mappings: list[IdentityMapping]
    date_offset_days: int | None
    identity: dict[str, str]
    masked: list[list[int | str]] = field(default_factory=list)


@dataclass
class _File:
    buf: bytes
    explicit: bool
    encodings: list[str]
    run: _Run


class RawAnonymizer:
    """Applies an :class:`Anonymizer`'s resolved table to encoded files (reusable, thread-safe)."""

    def __init__(self, anonymizer: Anonymizer) -> None:
        self.engine = anonymizer
        self.table = anonymizer.table
        self._by_tag = anonymizer.table.by_tag
        self._overlay_removed = self.table.overlay_data is Action.REMOVE
        self._deid: dict[tuple[bool, bool], Chunks] = {}
        self._resolved: dict[int, object] = {}

    # -- public -----------------------------------------------------------------------------------------
    def anonymize_bytes(self, buf: bytes) -> RawResult:
        """De-identify one encoded file; raises Fallback or AnonymizationRefused (like the engine)."""
        if len(buf) < 132 or buf[128:132] != b"DICM":
            raise Fallback("no DICOM preamble")
        meta, pos = scan_meta(buf)
        syntax = transfer_syntax(buf, meta)
        if syntax in (BIG_ENDIAN, DEFLATED):
            raise Fallback("big endian or deflated transfer syntax")
        explicit = syntax != IMPLICIT_LE
        if not explicit and buf[pos + 4 : pos + 6] in VR_BYTES:
            raise Fallback("implicit VR transfer syntax but explicit VR data")
        elements, _ = scan(buf, pos, len(buf), explicit)
        probe = Probe(buf, elements, explicit)
        if SOP_CLASS not in probe:
            raise Fallback("no SOP Class UID")
        engine = self.engine
        use_ocr = engine._check_pixels(probe)  # type: ignore[arg-type]  # Probe stands in for the Dataset
        cleans_pixels = Option.CLEAN_PIXEL_DATA in engine.options and pixels.has_pixels(probe)  # type: ignore[arg-type]
        if cleans_pixels and (use_ocr or pixels.matching_rule(probe, engine.pixel_rules) is not None):  # type: ignore[arg-type]
            raise Fallback("pixel data to clean")
        run = _Run(
            patient_id=str(probe.get("PatientID", "") or ""),
            patient_name=str(probe.get("PatientName", "") or ""),
        )
        if engine._modified_dates:
            run.offset = engine.pseudonyms.date_offset(run.patient_id or "name:" + run.patient_name)
        if engine._needs_scrub:
            run.scrubber = Scrubber(engine.scrub_tokens(buf, [probe.get(k) for k in IDENTITY_KEYWORDS]))
        state = _File(buf, explicit, probe.encodings, run)
        body = self._walk(state, elements, None)
        meta_out = self._walk(_File(buf, True, probe.encodings, run), meta, None, meta=True)
        new_sop = _text_of(body, SOP_INSTANCE)
        if new_sop is not None:
            meta_out = [(t, c) for t, c in meta_out if t != MEDIA_INSTANCE]
            meta_out.append((MEDIA_INSTANCE, text_element(MEDIA_INSTANCE, "UI", new_sop, True)))
            meta_out.sort(key=_first)
        deid = self._deid_chunks(explicit, any(t == PIXEL_DATA for t, _ in body))
        deid_tags = {t for t, _ in deid}
        body = sorted([c for c in body if c[0] not in deid_tags] + deid, key=_first)
        data = b"".join([bytes(128), b"DICM", _meta_bytes(meta_out), *(c for _, c in body)])
        identity = {
            "PatientID": _text_of(body, PATIENT_ID) or "",
            "StudyInstanceUID": _text_of(body, 0x0020000D) or "",
            "SeriesInstanceUID": _text_of(body, 0x0020000E) or "",
            "SOPInstanceUID": new_sop or "",
        }
        mappings = [IdentityMapping(kind, pseudo, orig) for (kind, orig), pseudo in run.mappings.items()]
        return RawResult(data, dict(run.counts), mappings, run.offset, identity)

    # -- the walk -----------------------------------------------------------------------------------------
    def _walk(
        self, f: _File, elements: list[Element], content: Action | None, *, meta: bool = False
    ) -> Chunks:
        """Output chunks (tag, bytes) of one dataset level, like ``Anonymizer._walk``."""
        buf, explicit, counts, resolved = f.buf, f.explicit, f.run.counts, self._resolved
        out: Chunks = []
        private: list[Element] = []
        for element in elements:
            tag, vr, length, pos, start, stop = element
            if not tag & 0x1FFFF and not meta:  # even group lengths: stale after editing (pydicom drops them)
                continue
            resolution = resolved.get(tag, _UNRESOLVED)
            if resolution is _UNRESOLVED:
                resolution = self._resolve(tag)
            if resolution is _PRIVATE:
                private.append(element)
                continue
            action = cast("Action | None", resolution)
            is_seq = vr == "SQ" or (not explicit and length == UNDEFINED)
            if vr == "UN" and (explicit or is_seq) and vr_of(tag) != "UN":
                raise Fallback("a standard attribute encoded as UN")
            if action is _REMOVE:
                counts["X"] += 1
            elif is_seq:
                if action is not None:
                    counts[action.value] += 1
                if action is _EMPTY:
                    out.append((tag, sequence(tag, [], explicit)))
                    continue
                nested = action if action is _DUMMY or action is _CLEAN else content
                items = self._items(f, start, length, nested)
                out.append((tag, sequence(tag, items, explicit)))
            elif action is None:
                if content is not None and tag in _CONTENT_TEXT and buf[start:stop].strip(b" \0"):
                    out.append((tag, self._content_text(f, element, content)))
                else:
                    out.append((tag, _kept(f, pos, stop)))
            else:
                counts[action.value] += 1
                out.append((tag, self._apply(f, element, action) or _kept(f, pos, stop)))
        return self._finish(f, out, private)

    def _resolve(self, tag: int) -> object:
        """What the walk does with ``tag``: an Action, None (no row: keep), _PRIVATE, or _REMOVE."""
        action: object = self._by_tag.get(tag)
        if action is None:
            group = tag >> 16
            if group & 1:
                action = _PRIVATE
            elif self._overlay_removed and 0x6000 <= group <= 0x60FF:
                action = _REMOVE  # the whole overlay group goes, like the dataset engine does
            else:
                action = self.table.action_for(tag)
        if len(self._resolved) < 100_000:
            self._resolved[tag] = action
        return action

    def _items(self, f: _File, start: int, length: int, content: Action | None) -> list[bytes]:
        items: list[bytes] = []
        buf, pos = f.buf, start
        end = start + length if length != UNDEFINED else len(buf)
        while pos < end:
            group, element, item_length = _ITEM.unpack_from(buf, pos)
            tag = group << 16 | element
            if tag == SEQUENCE_END:
                return items
            if tag != ITEM:
                raise Fallback("unexpected element in a sequence")
            item_start = pos + 8
            item_end = item_start + item_length if item_length != UNDEFINED else len(buf)
            elements, pos = scan(buf, item_start, item_end, f.explicit)
            chunks = self._walk(f, elements, content)
            items.append(b"".join(c for _, c in chunks))
        if length == UNDEFINED or pos != end:
            raise Fallback("truncated sequence")
        return items

    def _apply(self, f: _File, element: Element, action: Action) -> bytes | None:
        """New element bytes for ``action``, or None to keep the original bytes."""
        tag, vr, _, _, start, stop = element
        value = f.buf[start:stop]
        if action is Action.KEEP or is_empty_value(vr, value):
            return None
        explicit = f.explicit
        if " or " in vr:
            if action is Action.EMPTY:
                return empty_element(tag, vr.split(" or ")[0], explicit)
            if action is Action.CLEAN:
                return None  # ambiguous VRs are binary: cleaning changes nothing
            raise Fallback("ambiguous VR")
        if tag in _PSEUDONYM_TAGS:
            original = str(decode_value(f.buf, element, explicit, f.encodings))
            return text_element(tag, vr, self.engine._pseudonym(tag, original, f.run), explicit)
        if action is Action.EMPTY:
            return empty_element(tag, vr, explicit)
        if action in (Action.UID, Action.REFERENCES) or (action is Action.DUMMY and vr == "UI"):
            if vr != "UI":
                raise Fallback("UID action on a non-UI attribute")
            originals = value.decode("latin-1").rstrip("\0 ").split("\\")
            mapped = self.engine._uids(originals if len(originals) > 1 else originals[0], f.run)
            return text_element(tag, vr, mapped if isinstance(mapped, str) else "\\".join(mapped), explicit)
        if action is Action.DUMMY:
            return value_element(tag, vr, dummy_value(vr, value), explicit)
        if action is Action.CLEAN:
            elem = self._decode(f, element)
            before = elem.value
            self.engine._clean(elem, f.run)
            if elem.value is before:
                return None
            return pydicom_element(elem, explicit, f.encodings)
        return None

    def _content_text(self, f: _File, element: Element, content: Action) -> bytes:
        run = f.run
        if content is Action.CLEAN and run.scrubber is not None:
            elem = self._decode(f, element)
            elem.value = run.scrubber.clean(str(elem.value))
            run.counts["C"] += 1
            return pydicom_element(elem, f.explicit, f.encodings)
        run.counts["D"] += 1
        return text_element(element[0], element[1], DUMMY_TEXT, f.explicit)

    def _finish(self, f: _File, out: Chunks, private: list[Element]) -> Chunks:
        """Resolve this level's private attributes (like ``Anonymizer._privates``) and sort by tag."""
        if private:
            if self.table.private is not Action.CLEAN:
                f.run.counts["X"] += len(private)
            else:
                out.extend(self._safe_private(f, private))
        out.sort(key=_first)  # nearly always sorted already: a linear pass
        return out

    def _safe_private(self, f: _File, private: list[Element]) -> Chunks:
        run, safe = f.run, self.engine.safe_private
        creators: dict[tuple[int, int], str] = {}
        for element in private:
            tag = element[0]
            if 0x10 <= tag & 0xFFFF <= 0xFF:
                creators[(tag >> 16, tag & 0xFF)] = str(
                    decode_value(f.buf, element, f.explicit, f.encodings)
                ).strip()
        kept: Chunks = []
        kept_blocks: set[tuple[int, int]] = set()
        for tag, _, _, pos, _, stop in private:
            group, number = tag >> 16, tag & 0xFFFF
            if number < 0x1000:
                continue
            block = (group, number >> 8)
            creator = creators.get(block)
            if creator is not None and (group, number & 0xFF, creator) in safe:
                kept_blocks.add(block)
                kept.append((tag, _kept(f, pos, stop)))
                run.counts["K"] += 1
            else:
                run.counts["X"] += 1
        for tag, _, _, pos, _, stop in private:
            group, number = tag >> 16, tag & 0xFFFF
            if number < 0x1000:
                if (group, number & 0xFF) in kept_blocks:
                    kept.append((tag, _kept(f, pos, stop)))
                else:
                    run.counts["X"] += 1
        return kept

    @staticmethod
    def _decode(f: _File, element: Element) -> DataElement:
        tag, vr, _, _, start, stop = element
        value = f.buf[start:stop]
        raw = RawDataElement(Tag(tag), vr if f.explicit else None, len(value), value, 0, not f.explicit, True)
        return convert_raw_data_element(raw, encoding=f.encodings)

    def _deid_chunks(self, explicit: bool, has_pixel_data: bool) -> Chunks:
        key = (explicit, has_pixel_data)
        cached = self._deid.get(key)
        if cached is None:
            ds = Dataset()
            if has_pixel_data:
                ds.PixelData = b""
            write_deidentification_attributes(ds, self.engine.options)
            cached = [
                (int(e.tag), pydicom_element(e, explicit, ["iso8859"])) for e in ds if e.tag != PIXEL_DATA
            ]
            self._deid[key] = cached
        return cached


def _kept(f: _File, pos: int, stop: int) -> bytes:
    """The element at ``pos`` as read, padded to even length like pydicom writes it."""
    if not (stop - pos) & 1:
        return f.buf[pos:stop]
    tag, vr, length, start = read_header(f.buf, pos, f.explicit)
    vr = vr or vr_of(tag)
    pad = b" " if vr in STRING_VRS and vr != "UI" else b"\0"
    return header(tag, vr, length + 1, f.explicit) + f.buf[start:stop] + pad


def _first(chunk: tuple[int, bytes]) -> int:
    return chunk[0]


def _text_of(chunks: Chunks, tag: int) -> str | None:
    """The text value of ``tag`` in output chunks (short-VR header: 8 bytes either way)."""
    for t, chunk in chunks:
        if t == tag:
            return chunk[8:].decode("latin-1").rstrip("\0 ")
    return None


def _meta_bytes(chunks: Chunks) -> bytes:
    body = b"".join(c for t, c in chunks if t != 0x00020000)
    if any(t == 0x00020000 for t, _ in chunks):
        return header(0x00020000, "UL", 4, True) + len(body).to_bytes(4, "little") + body
    return body


def anonymize_file_bytes(
    engine: Anonymizer, raw: RawAnonymizer | None, data: bytes, read: Callable[[bytes], Dataset | None]
) -> RawResult | None:
    """Raw engine first; on Fallback the dataset engine (``read`` decodes; None: not DICOM)."""
    if raw is not None:
        try:
            return raw.anonymize_bytes(data)
        except (AnonymizationRefused, TruncatedData):
            raise
        except Exception:  # Fallback, or malformed/unusual data: the dataset engine is the reference
            pass
    ds = read(data)
    if ds is None:
        return None
    result: AnonymizationResult = engine.anonymize(ds, in_place=True)
    out = result.dataset
    buffer = BytesIO()
    out.save_as(buffer)
    identity = {k: str(out.get(k, "") or "") for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")}
    identity["SOPInstanceUID"] = str(out.get("SOPInstanceUID", "") or "")
    return RawResult(
        buffer.getvalue(), result.actions, result.mappings, result.date_offset_days, identity, result.masked
    )
