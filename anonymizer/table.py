"""PS3.15 Table E.1-1 as data: load the rows, resolve each row's action for a set of options.

The table ships as package data (``data/confidentiality_profile_attributes.json``, see ``data/SOURCE.md``).
:func:`build_action_table` turns it into a plain ``dict`` keyed by tag, computed once per Anonymizer, plus
the four wildcard rows (curves 50xx, overlay data/comments 60xx, odd-group private attributes).

Combined codes are resolved so that the output stays valid for its IOD without an IOD database:

* ``X/Z``  -> ``Z`` (a zero-length value is allowed for Type 2 and Type 3 attributes)
* ``X/D``, ``Z/D``, ``X/Z/D`` -> ``D`` (a dummy value is valid for Type 1, 2 and 3; an attribute that is
  already empty stays empty, which was valid before)
* ``X/Z/U*`` -> ``U*``: keep the sequence and replace the instance UIDs inside it

Options override the basic action; when several options name a row, K (keep) wins over C (clean).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources

from anonymizer.options import TABLE_COLUMN, Option, parse_options

TABLE_RESOURCE = "confidentiality_profile_attributes.json"


class Action(StrEnum):
    """A resolved action: what the engine does with an attribute."""

    KEEP = "K"
    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    UID = "U"
    CLEAN = "C"
    REFERENCES = "U*"


COMBINED: dict[str, Action] = {
    "K": Action.KEEP,
    "X": Action.REMOVE,
    "Z": Action.EMPTY,
    "D": Action.DUMMY,
    "U": Action.UID,
    "C": Action.CLEAN,
    "X/Z": Action.EMPTY,
    "X/D": Action.DUMMY,
    "Z/D": Action.DUMMY,
    "X/Z/D": Action.DUMMY,
    "X/Z/U*": Action.REFERENCES,
}

CURVE_ROW = "50xxxxxx"
OVERLAY_DATA_ROW = "60xx3000"
OVERLAY_COMMENTS_ROW = "60xx4000"
PRIVATE_ROW = "ggggeeee-where-gggg-is-odd"


@dataclass(frozen=True)
class Row:
    """One row of Table E.1-1."""

    id: str
    name: str
    basic: str
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> int | None:
        """The tag as an int, or None for a wildcard row."""
        try:
            return int(self.id, 16)
        except ValueError:
            return None


@cache
def load_rows() -> tuple[Row, ...]:
    """All 621 rows of the table, as shipped with the package."""
    text = resources.files("anonymizer").joinpath("data", TABLE_RESOURCE).read_text(encoding="utf-8")
    rows = []
    for raw in json.loads(text):
        columns = {k: v for k, v in raw.items() if k.endswith("Opt")}
        rows.append(Row(id=raw["id"], name=raw["name"], basic=raw["basicProfile"], columns=columns))
    return tuple(rows)


def resolve_code(row: Row, options: frozenset[Option]) -> str:
    """The table code that applies to ``row`` under ``options`` (K, C or the basic-profile code)."""
    chosen: str | None = None
    for option in options:
        column = TABLE_COLUMN[option]
        if column is None or column not in row.columns:
            continue
        code = "K" if option is Option.RETAIN_DESCRIPTORS else row.columns[column]
        if code == "K" or chosen is None:
            chosen = code
    return chosen if chosen is not None else row.basic


def resolve_action(row: Row, options: frozenset[Option]) -> Action:
    """The action the engine performs for ``row`` under ``options``."""
    return COMBINED[resolve_code(row, options)]


@dataclass(frozen=True)
class ActionTable:
    """Resolved actions for one option set: a dict by tag plus the wildcard rows."""

    options: frozenset[Option]
    by_tag: dict[int, Action]
    curve: Action
    overlay_data: Action
    overlay_comments: Action
    private: Action

    def action_for(self, tag: int) -> Action | None:
        """The action for ``tag``, or None when no row names it (the attribute is kept)."""
        action = self.by_tag.get(tag)
        if action is not None:
            return action
        group = tag >> 16
        if group & 1:
            return self.private
        if 0x5000 <= group <= 0x50FF:
            return self.curve
        if 0x6000 <= group <= 0x60FF:
            element = tag & 0xFFFF
            if element == 0x3000:
                return self.overlay_data
            if element == 0x4000:
                return self.overlay_comments
        return None


def build_action_table(options: Iterable[str | Option] = ()) -> ActionTable:
    """Resolve every row of the table for ``options`` (names or :class:`Option` members)."""
    chosen = parse_options(options)
    by_tag: dict[int, Action] = {}
    wild: dict[str, Action] = {}
    for row in load_rows():
        action = resolve_action(row, chosen)
        tag = row.tag
        if tag is None:
            wild[row.id] = action
        else:
            by_tag[tag] = action
    return ActionTable(
        options=chosen,
        by_tag=by_tag,
        curve=wild[CURVE_ROW],
        overlay_data=wild[OVERLAY_DATA_ROW],
        overlay_comments=wild[OVERLAY_COMMENTS_ROW],
        private=wild[PRIVATE_ROW],
    )
