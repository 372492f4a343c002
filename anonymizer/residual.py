"""Residual-PHI rules: what in one anonymised dataset can still identify, judged against its source.

:func:`check_output` compares an output dataset with the source it was made from (when known) under the
profile's resolved table, and returns :class:`Finding` objects: the attribute path, the rule it breaks and
a severity, never the value. The rules and the coincidence thresholds are documented in
``docs/anonymizer.md`` ("The residual check"); in short:

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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import pairwise

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from anonymizer.dummies import DUMMY_TEXT, DUMMY_VALUES
from anonymizer.engine import ACCESSION, PATIENT_ID, PATIENT_NAME
from anonymizer.residual_walk import Leaf, Wanted, dataset_leaves, file_leaves, path_of
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
# where identifying values are gathered (numeric strings DS/IS, times, UIDs and binary never are)
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"})
PSEUDONYM_TAGS = frozenset({PATIENT_NAME, PATIENT_ID, ACCESSION})
WRITTEN_BY_PROFILE = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
IDENTIFYING = frozenset({Action.REMOVE, Action.EMPTY, Action.DUMMY, Action.UID, Action.REFERENCES})
MIN_TOKEN, MIN_NAME_LETTERS, MIN_DIGITS = 5, 3, 6
_DUMMIES = frozenset(str(v).upper() for v in DUMMY_VALUES.values() if isinstance(v, str)) | {DUMMY_TEXT}
_UID_TEXT = re.compile(r"[0-9.\\]+")  # UIDs (one or more): compared as they are, not cached as words
_SPLIT = re.compile(r"[^A-Za-z0-9.\-_\x80-\uffff]+")  # words: letters, digits and . - _ inside


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
    _actions: dict[int, Action | None] = field(default_factory=dict, compare=False, repr=False)
    _wanted: dict[int, bool] = field(default_factory=dict, compare=False, repr=False)

    def identifying_attribute(self, tag: int, vr: str) -> bool:
        """Whether a source element can hold an identifying value: the profile acts on it, or a name."""
        try:
            return vr == "PN" or self._wanted[tag]
        except KeyError:
            wanted = self._wanted[tag] = self.action(tag) not in (None, Action.KEEP)
            return wanted

    def action(self, tag: int) -> Action | None:
        """The table's action for ``tag`` (memoised: the check asks for every element of every file)."""
        try:
            return self._actions[tag]
        except KeyError:
            action = self._actions[tag] = self.table.action_for(tag)
            return action


@dataclass
class SourceFacts:
    """What identifies in one source file: tokens, person-name parts, replaced UIDs, dates and kept values
    by path. Tokens are compared in upper case, word by word (see ``words``)."""

    tokens: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)
    dates: dict[tuple[str, int], str] = field(default_factory=dict)  # by (prefix, tag)
    source: Dataset | bytes | None = None
    _kept: dict[tuple[str, int], str] | None = None

    def kept(self, key: tuple[str, int]) -> str | None:
        """The source's text at (prefix, tag) (read on first use: only a hit on a kept value asks)."""
        if self._kept is None:
            leaves = leaves_of(self.source) if self.source is not None else ()
            self._kept = {(p, t): text or "" for p, t, _, text in leaves}
        return self._kept.get(key)

    def identifying(self, text: str) -> str | None:
        """The rule a text breaks (a UID, a value or a name of the source is in it), or None."""
        whole = text.strip(" \0").upper()
        parts = whole.split("\\") if whole[:1].isdigit() and _UID_TEXT.fullmatch(whole) else words(whole)
        if any(p in self.uids for p in parts):
            return "uid-not-remapped"
        if whole in self.tokens or any(p in self.tokens for p in parts):
            return "identifying-value"
        if any(p in self.names for p in parts):
            return "person-name-in-text"
        return None


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """The words of a text (letters, digits, and . - _ inside a word), and each run of two words."""
    parts = [p.strip(".-_") for p in _SPLIT.split(text)]
    parts = [p for p in parts if p]
    return (*parts, *(f"{a} {b}" for a, b in pairwise(parts)))


@lru_cache(maxsize=65536)
def _worth(token: str) -> bool:
    """The coincidence rule: long enough, and not one of the profile's own values."""
    if token in _DUMMIES or DUMMY_TEXT in token:
        return False
    if not any(c.isalpha() for c in token):
        return sum(c.isdigit() for c in token) >= MIN_DIGITS
    return len(token) >= MIN_TOKEN


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    """The identifying tokens of an upper-case value: the whole value and its words that are worth it."""
    return tuple(t for t in (text, *words(text)) if _worth(t))


@lru_cache(maxsize=65536)
def _name_parts(name: str) -> tuple[str, ...]:
    """Components of a person name that can identify (3 letters or more, not a dummy)."""
    parts = _SPLIT.split(name)
    return tuple(p for p in parts if sum(c.isalpha() for c in p) >= MIN_NAME_LETTERS and p not in _DUMMIES)


def leaves_of(source: Dataset | bytes, wanted: Wanted = None) -> Iterable[Leaf]:
    if isinstance(source, Dataset):
        return dataset_leaves(source, wanted=wanted)
    return file_leaves(source, wanted)


def source_facts(source: Dataset | bytes, profile: CheckProfile) -> SourceFacts:
    """Gather what identifies in ``source`` (a dataset or a file's bytes) under the profile (one walk)."""
    facts = SourceFacts(source=source)
    for prefix, tag, vr, text in leaves_of(source, profile.identifying_attribute):
        if text is None or not text or tag >> 16 & 1:
            continue
        action = profile.action(tag)
        upper = text.strip(" \0").upper()
        if vr == "PN" and action is not Action.KEEP:
            facts.names.update(_name_parts(upper))
        if action is None or action is Action.KEEP:
            continue
        if vr in ("DA", "DT"):
            facts.dates[(prefix, tag)] = text
        if vr == "UI":
            if action in IDENTIFYING:
                facts.uids.update(u for u in upper.split("\\") if u and u not in UID_dictionary)
        elif vr in TEXT_VRS and action in IDENTIFYING:
            facts.tokens.update(_tokens(upper))
    return facts


def check_output(
    out: Dataset | bytes, source: Dataset | bytes | SourceFacts | None, profile: CheckProfile, name: str = ""
) -> list[Finding]:
    """All findings of one output (a dataset or a file's bytes) against its source, when known."""
    facts = source if isinstance(source, SourceFacts) or source is None else source_facts(source, profile)
    findings: list[Finding] = []

    def report(path: str, rule: str, tag: int) -> None:
        findings.append(Finding(name, path, rule, SEVERITY[rule], _keyword(tag)))

    leaves = list(leaves_of(out))
    creators = {(p, t): text for p, t, _, text in leaves if t >> 16 & 1 and 0x10 <= t & 0xFFFF <= 0xFF}
    flag = next((text for p, t, _, text in leaves if not p and t == 0x00120062), None)
    if (flag or "").strip().upper() != "YES":
        report("(0012,0062)", "identity-flag", 0x00120062)
    pseudonym = profile.pseudonym_prefix.upper()
    for prefix, tag, vr, text in leaves:
        if tag >> 16 & 1:
            if not _private_allowed(prefix, tag, creators, profile):
                report(path_of(prefix, tag), "private-not-allowed", tag)
            continue
        if text is None or not text or vr in ("DS", "IS", "TM") or _root(prefix, tag) in WRITTEN_BY_PROFILE:
            continue  # (the de-identification attributes are the profile's own words, nested ones too)
        path = (prefix, tag)
        action = profile.action(tag)
        if action is Action.REMOVE and not (0x6000 <= tag >> 16 <= 0x60FF):
            report(path_of(*path), "removed-present", tag)
            continue
        if action is Action.EMPTY and tag not in PSEUDONYM_TAGS:
            report(path_of(*path), "not-emptied", tag)
            continue
        upper = text.strip(" \0").upper()
        if facts is None:
            replaced = all(v.startswith("2.25.") for v in upper.split("\\"))
            if vr == "UI" and action is Action.UID and not replaced:
                report(path_of(*path), "uid-not-replaced", tag)
            continue
        if vr in ("DA", "DT") and facts.dates.get(path) == text and upper not in _DUMMIES:
            report(path_of(*path), "date-not-shifted", tag)
            continue
        if (tag in PSEUDONYM_TAGS and upper.startswith(pseudonym)) or upper in _DUMMIES:
            continue
        rule = facts.identifying(text)
        if rule is None or ((action is None or action is Action.KEEP) and facts.kept(path) == text):
            continue  # nothing, or an attribute the profile keeps holding exactly its own source value
        report(path_of(*path), rule, tag)
    return findings


def _root(prefix: str, tag: int) -> int:
    """The top-level tag of an attribute (``prefix``: ``(GGGG,EEEE)[i]/...`` or empty at the top)."""
    return int(prefix[1:5] + prefix[6:10], 16) if prefix else tag


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) if not tag >> 16 & 1 else "private"


def _private_allowed(
    prefix: str, tag: int, creators: dict[tuple[str, int], str | None], profile: CheckProfile
) -> bool:
    """Retain Safe Private: the attribute is on the safe list for its block's creator (at its level)."""
    if profile.table.private is not Action.CLEAN:
        return False
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:  # a private creator: allowed when its block may keep a safe attribute
        creator = (creators.get((prefix, tag)) or "").strip()
        return any(g == group and c == creator for g, _, c in profile.safe_private)
    creator = (creators.get((prefix, group << 16 | element >> 8)) or "").strip()
    return (group, element & 0xFF, creator) in profile.safe_private
