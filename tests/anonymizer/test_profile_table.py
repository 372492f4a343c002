"""Every row of PS3.15 Table E.1-1 x option sets: the resolved action, and what the engine does with it."""

from __future__ import annotations

from functools import cache

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizationError
from anonymizer.options import Option, parse_options
from anonymizer.table import Action, build_action_table, load_rows, resolve_action

ROWS = load_rows()
OPTION_SETS: dict[str, tuple[str, ...]] = {
    "basic": (),
    "retain-all": (
        "retain_safe_private",
        "retain_uids",
        "retain_device_identity",
        "retain_institution_identity",
        "retain_patient_characteristics",
        "retain_longitudinal_full_dates",
        "retain_descriptors",
    ),
    "clean-all": (
        "retain_longitudinal_modified_dates",
        "clean_descriptors",
        "clean_structured_content",
        "clean_graphics",
        "retain_safe_private",
    ),
    "mixed": ("retain-device-identity", "clean-descriptors", "retain-patient-characteristics"),
}
COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U*"}
COLUMN = {
    "retain_safe_private": "rtnSafePrivOpt",
    "retain_uids": "rtnUIDsOpt",
    "retain_device_identity": "rtnDevIdOpt",
    "retain_institution_identity": "rtnInstIdOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_longitudinal_full_dates": "rtnLongFullDatesOpt",
    "retain_longitudinal_modified_dates": "rtnLongModifDatesOpt",
    "retain_descriptors": "cleanDescOpt",
    "clean_descriptors": "cleanDescOpt",
    "clean_structured_content": "cleanStructContOpt",
    "clean_graphics": "cleanGraphOpt",
}


def expected_code(row_columns: dict[str, str], basic: str, options: tuple[str, ...]) -> str:
    """The standard's rule written out independently: an option's K beats C beats the basic code."""
    codes = []
    for option in options:
        name = option.replace("-", "_")
        column = COLUMN.get(name)
        if column in row_columns:
            codes.append("K" if name == "retain_descriptors" else row_columns[column])
    if "K" in codes:
        return "K"
    if "C" in codes:
        return "C"
    return COMBINED.get(basic, basic)


CASES = [pytest.param(row, name, id=f"{row.id}-{name}") for row in ROWS for name in OPTION_SETS]


def test_table_has_every_row() -> None:
    assert len(ROWS) == 621
    assert len({r.id for r in ROWS}) == 621
    wildcards = [r for r in ROWS if r.tag is None]
    assert len(wildcards) == 4


@pytest.mark.parametrize(("row", "set_name"), CASES)
def test_resolved_action(row: object, set_name: str) -> None:
    options = OPTION_SETS[set_name]
    action = resolve_action(row, parse_options(options))  # type: ignore[arg-type]
    assert action.value == expected_code(row.columns, row.basic, options)  # type: ignore[attr-defined]


@cache
def _anonymizer(set_name: str) -> Anonymizer:
    return Anonymizer(OPTION_SETS[set_name], key=b"table-test-key-0123456789abcdef")


def _value_for(vr: str) -> object:
    values = {
        "DA": "20200131", "DT": "20200131123000", "TM": "123000", "PN": "Doe^Jane", "UI": "1.2.3.4.5",
        "AS": "042Y", "DS": "1.5", "IS": "7", "CS": "ABC", "AE": "STATION", "UR": "http://x.org",
        "US": 3, "SS": 3, "UL": 3, "SL": 3, "FL": 1.5, "FD": 1.5, "AT": 0x00100010, "SV": 3, "UV": 3,
    }  # fmt: skip
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return b"\x01\x02\x03\x04"
    return values.get(vr, "Jane Doe text")


def _element_dataset(tag: int) -> tuple[Dataset, str]:
    vr = dictionary_VR(tag).split(" or ")[0]
    ds = Dataset()
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = "kept"
        ds.add_new(tag, "SQ", [item])
    else:
        ds.add_new(tag, vr, _value_for(vr))
    return ds, vr


ENGINE_CASES = [
    pytest.param(row, name, id=f"{row.id}-{name}")
    for row in ROWS
    if row.tag is not None and row.tag >> 16 not in (0x0000, 0x0002, 0x0004)  # command/meta/dicomdir groups
    for name in OPTION_SETS
]


@pytest.mark.parametrize(("row", "set_name"), ENGINE_CASES)
def test_engine_applies_action(row: object, set_name: str) -> None:
    tag = row.tag  # type: ignore[attr-defined]
    action = resolve_action(row, parse_options(OPTION_SETS[set_name]))  # type: ignore[arg-type]
    ds, vr = _element_dataset(tag)
    before = ds[tag].value
    out = _anonymizer(set_name).anonymize(ds).dataset
    if action is Action.REMOVE:
        assert tag not in out
        return
    assert tag in out
    after = out[tag].value
    if vr == "SQ":
        assert (len(after) == 0) == (action is Action.EMPTY)
    elif tag in (0x00100010, 0x00100020, 0x00080050):  # keyed pseudonyms
        assert str(after).startswith("ANON") and str(after) != str(before)
    elif action is Action.EMPTY:
        assert out[tag].is_empty
    elif action is Action.DUMMY:
        assert not out[tag].is_empty and after != before
    elif action is Action.UID:
        assert str(after).startswith("2.25.")
    elif action is Action.KEEP:
        assert after == before
    elif action is Action.CLEAN and vr in ("DA", "DT"):
        assert after and after != before  # shifted by the patient's offset
    elif action is Action.CLEAN and vr in ("LO", "SH", "LT", "ST", "UT"):
        assert after == before  # no identity in the text: nothing to clean


def test_wildcard_rows() -> None:
    basic = build_action_table()
    assert basic.action_for(0x00191010) is Action.REMOVE  # odd group: private
    assert basic.action_for(0x50020010) is Action.REMOVE  # curve
    assert basic.action_for(0x60023000) is Action.REMOVE  # overlay data
    assert basic.action_for(0x60004000) is Action.REMOVE  # overlay comments
    assert basic.action_for(0x00280010) is None  # Rows: not in the table, kept
    opts = build_action_table(["retain_safe_private", "clean_graphics"])
    assert opts.private is Action.CLEAN and opts.curve is Action.CLEAN and opts.overlay_data is Action.CLEAN


def test_overlay_group_removed_whole_and_private_removed() -> None:
    ds = Dataset()
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60003000, "OW", b"\x00" * 4)
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "Jane Doe")
    ds.Rows = 4
    out = Anonymizer(key=b"k" * 32).anonymize(ds).dataset
    assert [int(t) for t in list(out.keys()) if t >> 16 in (0x6000, 0x0009)] == []
    assert out.Rows == 4


def test_option_names_and_exclusions() -> None:
    assert parse_options(["Retain UIDs Option", "retain-uids"]) == {Option.RETAIN_UIDS}
    assert Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in parse_options(
        ["Retain Longitudinal Temporal Information Modified Dates Option"]
    )
    with pytest.raises(AnonymizationError, match="exclude"):
        parse_options(["retain_longitudinal_full_dates", "retain_longitudinal_modified_dates"])
    with pytest.raises(AnonymizationError, match="unknown"):
        parse_options(["retain_everything"])
