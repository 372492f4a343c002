"""Residual-PHI rules: what in one anonymised dataset can still identify, judged against its source.

:func:`check_output` compares an output dataset with the source it was made from (when known) under the
profile's resolved table, and returns :class:`Finding` objects: the attribute path, the rule it breaks and
a severity, never the value. The rules and the coincidence thresholds are documented in
``docs/anonymizer.md`` ("Residual check"); in short:

* ``identifying-value``: a value of one of the source's identifying attributes (those the profile removes,
  empties, replaces with a dummy or a UID: X, Z, D, U rows after options) is found in an output string.
* ``uid-not-remapped``: a UID the profile replaces is found anywhere in the output.
* ``date-not-shifted``: a date the profile removes or shifts is still the source's date at the same path.
* ``private-not-allowed``: a private attribute that the safe-private list does not allow.
* ``person-name-in-text``: a component of a source person name is found in an output string.
* ``removed-present`` / ``not-emptied`` / ``uid-not-replaced`` / ``identity-flag``: structural rules that
  need no source (an X attribute with a value, a Z attribute with a value, a U attribute outside ``2.25.``,
  PatientIdentityRemoved not YES).

Ignored, on purpose: the profile's own dummy and pseudonym values; an attribute the profile keeps that
holds exactly its source value; numeric and binary elements (DS, IS, US, FL, OB, OW, ...: a measurement
equal to a source number is a coincidence); tokens shorter than 5 characters (3 letters for person-name
components); numbers with fewer than 6 digits; times of day (TM); standard UIDs (SOP classes, transfer
syntaxes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary

from anonymizer.dummies import _DUMMY, DUMMY_TEXT
from anonymizer.engine import ACCESSION, PATIENT_ID, PATIENT_NAME, _dictionary_vr
from anonymizer.safe_private import SafeKey
from anonymizer.table import Action, ActionTable

SEVERITY = {
    "identifying-value": "high",
    "uid-not-remapped": "high",
    "date-not-shifted": "high",
    "private-not-allowed": "high",
    "person-name-in-text": "high",
    "removed-present": "medium",
    "not-emptied": "medium",
    "uid-not-replaced": "medium",
    "identity-flag": "low",
}
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"})
SEARCHED_VRS = TEXT_VRS | {"UI"}  # where values are searched (binary and numeric never are)
PSEUDONYM_TAGS = frozenset({PATIENT_NAME, PATIENT_ID, ACCESSION})
WRITTEN_BY_PROFILE = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
IDENTIFYING = frozenset({Action.REMOVE, Action.EMPTY, Action.DUMMY, Action.UID, Action.REFERENCES})
MIN_TOKEN, MIN_NAME_LETTERS, MIN_DIGITS = 5, 3, 6
_DUMMIES = frozenset(str(v).upper() for v in _DUMMY.values() if isinstance(v, str)) | {DUMMY_TEXT}
_SPLIT = re.compile(r"[\^=\\,;:/()\s]+")


@dataclass(frozen=True)
class Finding:
    """One residual: file, attribute path, rule and severity (never the value)."""

    file: str
    path: str
    rule: str
    severity: str = field(default="high")
    attribute: str = ""

    def __str__(self) -> str:
        name = f" {self.attribute}" if self.attribute else ""
        return f"{self.file}: {self.path}{name}: {self.rule} ({self.severity})"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class CheckProfile:
    """What the check needs to know of the profile: the resolved table, the safe-private list, prefix."""

    table: ActionTable
    safe_private: frozenset[SafeKey] = frozenset()
    pseudonym_prefix: str = "ANON"


@dataclass
class SourceFacts:
    """What identifies in one source file: tokens, person-name parts, replaced UIDs, dates by path."""

    tokens: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)
    dates: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None
    _names: re.Pattern[str] | None = None

    def compile(self) -> SourceFacts:
        self._pattern = _alternation(self.tokens | self.uids, r"A-Za-z0-9.")
        self._names = _alternation(self.names, r"A-Za-z")
        return self

    def identifying(self, text: str) -> str | None:
        """The rule a text breaks (a UID, a value or a name of the source is in it), or None."""
        if self._pattern is not None:
            match = self._pattern.search(text)
            if match is not None:
                return "uid-not-remapped" if match.group(0) in self.uids else "identifying-value"
        if self._names is not None and self._names.search(text) is not None:
            return "person-name-in-text"
        return None


def _alternation(tokens: set[str], boundary: str) -> re.Pattern[str] | None:
    if not tokens:
        return None
    body = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
    return re.compile(rf"(?<![{boundary}])(?:{body})(?![{boundary}])", re.IGNORECASE)


def leaves(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, int, str, DataElement | None]]:
    """(path, tag, VR, element) of every standard element at any depth, items' elements included.

    Binary and numeric elements are not decoded (the element is None for them)."""
    for tag_obj in list(ds.keys()):
        tag = int(tag_obj)
        if tag >> 16 & 1:
            continue  # private attributes: see private_findings
        raw = ds.get_item(tag_obj)
        vr = raw.VR or _dictionary_vr(tag)
        if vr == "UN" and isinstance(raw, RawDataElement) and _dictionary_vr(tag) != "UN":
            vr = _dictionary_vr(tag)
        path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        undefined = isinstance(raw, RawDataElement) and raw.length == 0xFFFFFFFF and tag != 0x7FE00010
        if vr == "SQ" or undefined:
            elem = ds[tag_obj]
            if isinstance(elem.value, Sequence):
                yield path, tag, "SQ", elem
                for index, item in enumerate(elem.value):
                    yield from leaves(item, f"{path}[{index}]/")
                continue
        if vr in SEARCHED_VRS or vr in ("DA", "DT", "TM"):
            yield path, tag, vr, ds[tag_obj]
        else:
            yield path, tag, vr, None


def text_of(elem: DataElement) -> str:
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _worth(token: str) -> bool:
    """The coincidence rule: long enough, and not one of the profile's own values."""
    token = token.strip(" \0")
    if token.upper() in _DUMMIES or DUMMY_TEXT in token.upper():
        return False
    digits = sum(c.isdigit() for c in token)
    if not any(c.isalpha() for c in token):
        return digits >= MIN_DIGITS
    return len(token) >= MIN_TOKEN


def source_facts(source: Dataset, profile: CheckProfile) -> SourceFacts:
    """Gather what identifies in ``source`` under the profile (one walk)."""
    facts = SourceFacts()
    table = profile.table
    for path, tag, vr, elem in leaves(source):
        if elem is None or vr == "SQ" or elem.is_empty:
            continue
        action = table.action_for(tag)
        text = text_of(elem)
        if vr == "PN" and action is not Action.KEEP:
            for part in _SPLIT.split(text):
                if sum(c.isalpha() for c in part) >= MIN_NAME_LETTERS and part.upper() not in _DUMMIES:
                    facts.names.add(part)
        if action is None or action is Action.KEEP:
            facts.kept[path] = text
            continue
        if vr in ("DA", "DT") and action is not Action.UID:
            facts.dates[path] = text
        if vr == "UI":
            if action in IDENTIFYING:
                facts.uids.update(u for u in text.split("\\") if u and u not in UID_dictionary)
        elif vr in ("DA", "DT"):
            if action in IDENTIFYING and _worth(text):
                facts.tokens.add(text.strip())
        elif vr in TEXT_VRS and action in IDENTIFYING:
            whole = text.strip(" \0")
            if _worth(whole):
                facts.tokens.add(whole)
            for part in _SPLIT.split(whole):
                if _worth(part):
                    facts.tokens.add(part)
    return facts.compile()


def check_output(
    out: Dataset, source: Dataset | SourceFacts | None, profile: CheckProfile, name: str = ""
) -> list[Finding]:
    """All findings of one output dataset (``source``: the dataset it was made from, when known)."""
    facts = source_facts(source, profile) if isinstance(source, Dataset) else source
    table = profile.table
    findings: list[Finding] = []

    def report(path: str, rule: str, tag: int) -> None:
        keyword = _keyword(tag)
        findings.append(Finding(name, path, rule, SEVERITY[rule], keyword))

    if str(out.get("PatientIdentityRemoved", "")).upper() != "YES":
        report("(0012,0062)", "identity-flag", 0x00120062)
    for path, tag in private_findings(out, profile):
        report(path, "private-not-allowed", tag)
    prefix = profile.pseudonym_prefix.upper()
    for path, tag, vr, elem in leaves(out):
        if elem is None or vr == "SQ" or elem.is_empty or _root(path) in WRITTEN_BY_PROFILE:
            continue  # (the de-identification attributes are the profile's own words, nested ones too)
        action = table.action_for(tag)
        text = text_of(elem)
        if action is Action.REMOVE and not (0x6000 <= tag >> 16 <= 0x60FF):
            report(path, "removed-present", tag)
            continue
        if action is Action.EMPTY and tag not in PSEUDONYM_TAGS:
            report(path, "not-emptied", tag)
            continue
        replaced = not any(not v.startswith("2.25.") for v in text.split("\\"))
        if vr == "UI" and action is Action.UID and facts is None and not replaced:
            report(path, "uid-not-replaced", tag)
        if facts is None:
            continue
        unchanged = vr in ("DA", "DT") and facts.dates.get(path) == text
        if unchanged and text.strip().upper() not in _DUMMIES:
            report(path, "date-not-shifted", tag)
            continue
        if (action is None or action is Action.KEEP) and facts.kept.get(path) == text:
            continue  # the profile keeps this attribute, and it holds its own source value
        if tag in PSEUDONYM_TAGS and text.upper().startswith(prefix):
            continue
        if text.strip(" \0").upper() in _DUMMIES:
            continue
        rule = facts.identifying(text)
        if rule is not None:
            report(path, rule, tag)
    return findings


def _root(path: str) -> int:
    """The top-level tag of an attribute path ``(GGGG,EEEE)[i]/...``."""
    return int(path[1:5] + path[6:10], 16)


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) if not tag >> 16 & 1 else "private"


def private_findings(ds: Dataset, profile: CheckProfile, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(path, tag) of every private attribute, at any depth, that the safe-private list does not allow."""
    tags = [int(t) for t in ds.keys()]  # noqa: SIM118 (iterating a Dataset decodes every element)
    creators: dict[tuple[int, int], str] = {}
    for tag in tags:
        if tag >> 16 & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
            creators[(tag >> 16, tag & 0xFF)] = str(ds[tag].value).strip()
    for tag in tags:
        path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        if tag >> 16 & 1:
            if not _private_allowed(tag, creators, profile):
                yield path, tag
            continue
        raw = ds.get_item(tag)
        if raw.VR == "SQ" or _dictionary_vr(tag) == "SQ":
            for index, item in enumerate(ds[tag].value or ()):
                yield from private_findings(item, profile, f"{path}[{index}]/")


def _private_allowed(tag: int, creators: dict[tuple[int, int], str], profile: CheckProfile) -> bool:
    if profile.table.private is not Action.CLEAN:
        return False
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:  # a private creator: allowed when its block keeps a safe attribute
        creator = creators.get((group, element & 0xFF))
        return any(g == group and c == creator for g, _, c in profile.safe_private)
    creator = creators.get((group, element >> 8))
    return creator is not None and (group, element & 0xFF, creator) in profile.safe_private
