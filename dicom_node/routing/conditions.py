"""Rule conditions: parsed once into typed objects, evaluated against a dataset header.

A ``match`` mapping ANDs its keys. Each key is a DICOM keyword (``Modality``) or a tag written
``(0019,10AA)`` / ``0019,10AA`` / ``001910AA`` (private tags included). The value is one of:

- a scalar: equality (case-insensitive when the element's VR is CS);
- a list: any of the scalars;
- an operator map: ``regex`` (``re.search``, unanchored: ``T1`` matches ``DWI_T1map``),
  ``fullmatch`` (anchored regex), ``contains`` (substring, or a member of a multi-valued element),
  ``gt``/``ge``/``lt``/``le`` (numeric), ``exists`` (true/false), ``not`` (a nested value spec);
  several operators in one map AND together.

``any: [ {...}, ... ]`` and ``all: [ {...}, ... ]`` nest whole match mappings.

For a multi-valued element (``ImageType``) a value test passes when any single value passes. A missing
element never raises: the condition is false (only ``exists: false`` is true).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

_TAG_FORMS = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")
_OPERATORS = {"regex", "fullmatch", "contains", "gt", "ge", "lt", "le", "exists", "not", "equals", "in"}


@dataclass(frozen=True)
class Outcome:
    """The result of a condition and the human-readable reason that decided it."""

    matched: bool
    reason: str


class Condition(ABC):
    @abstractmethod
    def evaluate(self, ds: Dataset) -> Outcome:
        """Evaluate against a dataset; never raises for missing or odd values."""


def _resolve_tag(key: str) -> tuple[BaseTag, str]:
    m = _TAG_FORMS.match(key.strip())
    if m:
        tag = Tag(int(m.group(1), 16), int(m.group(2), 16))
        return tag, keyword_for_tag(tag) or f"({m.group(1).upper()},{m.group(2).upper()})"
    tag_int = tag_for_keyword(key)
    if tag_int is None:
        raise ValueError(f"{key}: not a DICOM keyword or tag")
    return Tag(tag_int), key


def _values(ds: Dataset, tag: BaseTag) -> tuple[list[str], str] | None:
    """The element's values as strings plus its VR, or None when absent/empty."""
    elem = ds.get(tag)
    if elem is None or elem.VR == "SQ":
        return None
    value = elem.value
    if value is None or value == "" or (isinstance(value, bytes | bytearray) and not value):
        return None
    if isinstance(value, MultiValue | list | tuple):
        items = [str(v) for v in value]
    elif isinstance(value, bytes | bytearray):
        items = [bytes(value).decode("latin-1", errors="replace").rstrip("\x00 ")]
    else:
        items = [str(value)]
    return items, str(elem.VR)


@dataclass(frozen=True)
class ValueTest:
    """One operator applied to one element value."""

    op: str
    operand: Any

    def check(self, value: str, vr: str) -> bool:
        if self.op in ("equals", "in"):
            options = self.operand if isinstance(self.operand, list) else [self.operand]
            if vr == "CS":
                return value.strip().upper() in {str(o).strip().upper() for o in options}
            return value.strip() in {str(o).strip() for o in options}
        if self.op == "regex":
            return bool(self.operand.search(value))
        if self.op == "fullmatch":
            return bool(self.operand.fullmatch(value))
        if self.op == "contains":
            if vr == "CS":
                return str(self.operand).upper() in value.upper()
            return str(self.operand) in value
        try:
            number = float(value)
        except ValueError:
            return False
        limit = float(self.operand)
        return {
            "gt": number > limit,
            "ge": number >= limit,
            "lt": number < limit,
            "le": number <= limit,
        }[self.op]

    def describe(self) -> str:
        operand = self.operand.pattern if isinstance(self.operand, re.Pattern) else self.operand
        return f"{self.op} {operand!r}"


@dataclass(frozen=True)
class TagCondition(Condition):
    tag: BaseTag
    name: str
    tests: tuple[ValueTest, ...]
    exists: bool | None = None
    negated: TagCondition | None = None

    def evaluate(self, ds: Dataset) -> Outcome:
        found = _values(ds, self.tag)
        shown = "missing" if found is None else repr("\\".join(found[0]))
        if self.exists is not None and (found is not None) != self.exists:
            return Outcome(False, f"{self.name} is {shown}, expected exists={self.exists}")
        if self.negated is not None:
            inner = self.negated.evaluate(ds)
            if inner.matched:
                return Outcome(False, f"not ({inner.reason})")
        if self.tests:
            if found is None:
                return Outcome(False, f"{self.name} is missing")
            values, vr = found
            for test in self.tests:
                if not any(test.check(v, vr) for v in values):
                    return Outcome(False, f"{self.name}={shown} fails {test.describe()}")
        summary = " and ".join(t.describe() for t in self.tests) or (
            f"exists={self.exists}" if self.exists is not None else "not-condition holds"
        )
        return Outcome(True, f"{self.name}={shown} passes {summary}")


@dataclass(frozen=True)
class AllOf(Condition):
    children: tuple[Condition, ...]

    def evaluate(self, ds: Dataset) -> Outcome:
        reasons = []
        for child in self.children:
            outcome = child.evaluate(ds)
            if not outcome.matched:
                return outcome
            reasons.append(outcome.reason)
        return Outcome(True, "; ".join(reasons) if reasons else "no conditions (matches everything)")


@dataclass(frozen=True)
class AnyOf(Condition):
    children: tuple[Condition, ...]

    def evaluate(self, ds: Dataset) -> Outcome:
        reasons = []
        for child in self.children:
            outcome = child.evaluate(ds)
            if outcome.matched:
                return Outcome(True, f"any: {outcome.reason}")
            reasons.append(outcome.reason)
        return Outcome(False, "any: none matched (" + " | ".join(reasons) + ")")


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern))
    except re.error as exc:
        raise ValueError(f"{where}: invalid regex ({exc})") from None


def _parse_value_spec(tag: BaseTag, name: str, spec: Any, where: str) -> TagCondition:
    if isinstance(spec, Mapping):
        unknown = set(spec) - _OPERATORS
        if unknown:
            raise ValueError(f"{where}: unknown operator(s) {sorted(unknown)}; known: {sorted(_OPERATORS)}")
        tests: list[ValueTest] = []
        exists: bool | None = None
        negated: TagCondition | None = None
        for op, operand in spec.items():
            if op == "exists":
                if not isinstance(operand, bool):
                    raise ValueError(f"{where}.exists: must be true or false")
                exists = operand
            elif op == "not":
                negated = _parse_value_spec(tag, name, operand, f"{where}.not")
            elif op in ("regex", "fullmatch"):
                tests.append(ValueTest(op, _compile(operand, f"{where}.{op}")))
            elif op in ("gt", "ge", "lt", "le"):
                if isinstance(operand, bool) or not isinstance(operand, int | float):
                    raise ValueError(f"{where}.{op}: must be a number")
                tests.append(ValueTest(op, operand))
            elif op == "contains":
                tests.append(ValueTest(op, str(operand)))
            else:  # equals / in
                tests.append(ValueTest("equals", operand))
        return TagCondition(tag, name, tuple(tests), exists, negated)
    if isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
        if not spec:
            raise ValueError(f"{where}: an empty list never matches")
        if any(isinstance(v, Mapping | list) for v in spec):
            raise ValueError(f"{where}: a list holds scalars (any of)")
        return TagCondition(tag, name, (ValueTest("equals", list(spec)),))
    if spec is None:
        raise ValueError(f"{where}: a value is required (use exists: false for absence)")
    return TagCondition(tag, name, (ValueTest("equals", spec),))


def parse_condition(spec: Mapping[str, Any], where: str = "match") -> Condition:
    """Parse a ``match`` mapping into a condition tree; ``ValueError`` names the bad key."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: must be a mapping of keywords to values")
    children: list[Condition] = []
    for key, value in spec.items():
        path = f"{where}.{key}"
        if key in ("any", "all"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{path}: must be a non-empty list of match mappings")
            nested = tuple(parse_condition(item, f"{path}[{i}]") for i, item in enumerate(value))
            children.append(AnyOf(nested) if key == "any" else AllOf(nested))
            continue
        try:
            tag, name = _resolve_tag(str(key))
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None
        children.append(_parse_value_spec(tag, name, value, path))
    return AllOf(tuple(children))
