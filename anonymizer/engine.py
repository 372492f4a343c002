"""The profile engine: apply the resolved PS3.15 table to a dataset in one walk.

``Anonymizer`` is built once (the table is resolved into a dict by tag for its options) and is reusable
and thread-safe across datasets: per-dataset state lives in a :class:`_Run`. Elements that need no action
stay undecoded (pydicom's raw elements are written back as read), which is where the speed comes from.
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer import pixels
from anonymizer.dates import shift_value
from anonymizer.deid_attributes import write_deidentification_attributes
from anonymizer.dummies import DATE_VRS, DUMMY_TEXT, TEXT_VRS, Scrubber, dummy_value, identity_tokens
from anonymizer.errors import AnonymizationRefused
from anonymizer.keyfile import load_or_create_key
from anonymizer.options import Option
from anonymizer.pseudonyms import Pseudonymizer
from anonymizer.safe_private import DEFAULT_SAFE_PRIVATE, SafeKey, parse_safe_private
from anonymizer.settings import PixelRule, ProfileSettings
from anonymizer.table import Action, ActionTable, build_action_table

PATIENT_NAME, PATIENT_ID, ACCESSION = 0x00100010, 0x00100020, 0x00080050
TEXT_VALUE, UNFORMATTED_TEXT = 0x0040A160, 0x00700006
IDENTITY_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
    "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord", "RequestingPhysician", "StationName", "DeviceSerialNumber",
)  # fmt: skip


@dataclass(frozen=True)
class IdentityMapping:
    """One pseudonym and the original it replaced (``kind``: PatientID, PatientName, ..., uid)."""

    kind: str
    pseudonym: str
    original: str


@dataclass
class AnonymizationResult:
    """The de-identified dataset, the number of actions by kind, and the pseudonym mappings."""

    dataset: Dataset
    actions: dict[str, int]
    mappings: list[IdentityMapping]
    date_offset_days: int | None = None
    masked: list[list[int | str]] = field(default_factory=list)  # pixel regions blacked out (no text)


@dataclass
class _Run:
    """Per-dataset state of one ``anonymize`` call."""

    patient_id: str
    patient_name: str
    counts: Counter[str] = field(default_factory=Counter)
    mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    offset: int | None = None
    scrubber: Scrubber | None = None


@cache
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


class Anonymizer:
    """PS3.15 Annex E basic profile plus options, keyed pseudonyms, burned-in PHI refusal."""

    def __init__(
        self,
        options: Iterable[str | Option] = (),
        key: bytes | None = None,
        *,
        pseudonym_prefix: str = "ANON",
        date_offset_days: tuple[int, int] = (-3650, -365),
        burned_in_policy: str = "refuse",
        pixel_rules: Iterable[PixelRule] = (),
        safe_private: Iterable[str] = (),
    ) -> None:
        self.table: ActionTable = build_action_table(options)
        self.options = self.table.options
        self.key = key if key is not None else secrets.token_bytes(32)  # no key: not reproducible
        self.pseudonyms = Pseudonymizer(self.key, pseudonym_prefix, date_offset_days)
        self.burned_in_policy = burned_in_policy
        self.pixel_rules = tuple(pixel_rules)
        self.safe_private: frozenset[SafeKey] = DEFAULT_SAFE_PRIVATE | parse_safe_private(safe_private)
        self._by_tag = self.table.by_tag
        self._modified_dates = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options
        self._needs_scrub = any(a is Action.CLEAN for a in self._by_tag.values()) or bool(
            {Option.CLEAN_STRUCTURED_CONTENT, Option.CLEAN_GRAPHICS} & self.options
        )
        self._init_args = (options, pseudonym_prefix, date_offset_days, burned_in_policy, safe_private)

    @classmethod
    def from_settings(cls, settings: ProfileSettings, key: bytes | None = None) -> Anonymizer:
        """Build from a profile; the key comes from ``key`` or the profile's key file (created if new)."""
        if key is None and settings.key_file is not None:
            key = load_or_create_key(settings.key_file)
        return cls(
            settings.options,
            key,
            pseudonym_prefix=settings.pseudonym_prefix,
            date_offset_days=settings.date_offset_days,
            burned_in_policy=settings.burned_in_policy,
            pixel_rules=settings.pixel_rules,
            safe_private=settings.safe_private,
        )

    # -- public -----------------------------------------------------------------------------------------
    def anonymize(self, ds: Dataset, *, in_place: bool = False) -> AnonymizationResult:
        """De-identify ``ds`` (a copy unless ``in_place``); raises AnonymizationRefused for pixel PHI."""
        use_ocr = self._check_pixels(ds)
        if not in_place:
            ds = copy.deepcopy(ds)
        run = _Run(
            patient_id=str(ds.get("PatientID", "") or ""), patient_name=str(ds.get("PatientName", "") or "")
        )
        if self._modified_dates:
            run.offset = self.pseudonyms.date_offset(run.patient_id or "name:" + run.patient_name)
        if self._needs_scrub:
            run.scrubber = Scrubber(self.scrub_tokens(ds, [ds.get(k) for k in IDENTITY_KEYWORDS]))
        masked: list[list[int | str]] = []
        if Option.CLEAN_PIXEL_DATA in self.options and pixels.has_pixels(ds):
            rule = pixels.matching_rule(ds, self.pixel_rules)
            if rule is not None or use_ocr:
                from anonymizer.pixel_clean import clean_pixels

                ocr = use_ocr and (rule is None or rule.ocr)
                masked = [r.as_list() for r in clean_pixels(ds, rule, use_ocr=ocr)]
                run.counts["C"] += 1
        file_meta = getattr(ds, "file_meta", None)
        self._walk(ds, run, None)
        if file_meta is not None:
            self._walk(file_meta, run, None)
            if "SOPInstanceUID" in ds:
                file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        write_deidentification_attributes(ds, self.options)
        mappings = [IdentityMapping(kind, pseudo, orig) for (kind, orig), pseudo in run.mappings.items()]
        return AnonymizationResult(ds, dict(run.counts), mappings, run.offset, masked)

    def scrub_tokens(self, source: Dataset | bytes, identity: list[Any]) -> list[str]:
        """What the C action removes from text: the identity attributes' tokens, plus every value the
        residual check would call identifying (any attribute the profile removes or replaces, any depth)."""
        from anonymizer.residual import CheckProfile, source_facts  # (residual imports this module)

        facts = source_facts(source, CheckProfile(self.table))
        tokens = set(identity_tokens(identity)) | facts.tokens | facts.names | facts.uids
        return sorted(tokens, key=len, reverse=True)

    # -- checks before the walk ---------------------------------------------------------------------------
    def _check_pixels(self, ds: Dataset) -> bool:
        """True when the pixels may carry text and Clean Pixel Data will look for it (OCR); refuses
        such an image without that option."""
        if Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in self.options:
            pixels.check_visual_features(ds)
        if not pixels.has_pixels(ds):
            return False
        burned = str(ds.get("BurnedInAnnotation", "")).upper()
        trusted = self.burned_in_policy == "trust_header" and burned == "NO"
        if burned != "YES" and (trusted or not pixels.is_risky(ds)):
            return False
        if Option.CLEAN_PIXEL_DATA in self.options:
            return True
        why = (
            "BurnedInAnnotation is YES" if burned == "YES" else "this kind of image often has burned-in text"
        )
        raise AnonymizationRefused(
            f"burned-in PHI: {why} and the Clean Pixel Data option is not on ({pixels.describe(ds)})"
        )

    # -- the walk -----------------------------------------------------------------------------------------
    def _walk(self, ds: Dataset, run: _Run, content: Action | None) -> None:
        has_private = False
        overlay_removed = self.table.overlay_data is Action.REMOVE
        for base_tag in list(ds.keys()):
            tag = int(base_tag)
            action = self._by_tag.get(tag)
            if action is None:
                group = tag >> 16
                if group & 1:
                    has_private = True
                    continue
                if overlay_removed and 0x6000 <= group <= 0x60FF:
                    del ds[tag]
                    run.counts["X"] += 1
                    continue
                action = self.table.action_for(tag)
                if action is None:
                    if content is not None and tag in (TEXT_VALUE, UNFORMATTED_TEXT):
                        self._content_text(ds, tag, run, content)
                    elif self._is_sequence(ds, tag):
                        self._recurse(ds, tag, run, content)
                    continue
            self._apply(ds, tag, action, run, content)
        if has_private:
            self._privates(ds, run)

    @staticmethod
    def _is_sequence(ds: Dataset, tag: int) -> bool:
        """A sequence however it was encoded: SQ, implicit VR (no VR), or UN (a standard SQ sent as UN).

        The raw element's VR is what the file said; pydicom converts UN to the dictionary VR only when the
        element is accessed, so a sequence stored as UN must be recognised from the dictionary here, or
        the UIDs and names inside it would be skipped."""
        item = ds.get_item(tag)
        vr = item.VR
        if vr == "SQ":
            return True
        if vr and vr != "UN":
            return False
        if _dictionary_vr(tag) == "SQ":
            return True
        undefined = getattr(item, "length", 0) == 0xFFFFFFFF and tag != 0x7FE00010
        return undefined and isinstance(ds[tag].value, Sequence)

    def _recurse(self, ds: Dataset, tag: int, run: _Run, content: Action | None) -> None:
        for item in ds[tag].value or ():
            self._walk(item, run, content)

    def _apply(self, ds: Dataset, tag: int, action: Action, run: _Run, content: Action | None) -> None:
        if action is Action.REMOVE:
            del ds[tag]
            run.counts["X"] += 1
            return
        elem = ds[tag]
        run.counts[action.value] += 1
        if elem.VR == "SQ":
            if action is Action.EMPTY:
                elem.value = Sequence()
            else:  # D and C keep the tree and clean the values in it; K, U, U* keep it and remap UIDs
                nested = action if action in (Action.DUMMY, Action.CLEAN) else content
                for item in elem.value or ():
                    self._walk(item, run, nested)
            return
        if action is Action.KEEP or elem.is_empty:
            return
        if tag in (PATIENT_NAME, PATIENT_ID, ACCESSION):
            elem.value = self._pseudonym(tag, str(elem.value), run)
        elif action is Action.EMPTY:
            elem.value = None
        elif action in (Action.UID, Action.REFERENCES) or (action is Action.DUMMY and elem.VR == "UI"):
            elem.value = self._uids(elem.value, run)
        elif action is Action.DUMMY:
            elem.value = dummy_value(elem.VR, elem.value)
        elif action is Action.CLEAN:
            self._clean(elem, run)

    def _pseudonym(self, tag: int, original: str, run: _Run) -> str:
        if tag == PATIENT_ID:
            kind, value = "PatientID", self.pseudonyms.patient_id(original)
        elif tag == PATIENT_NAME:
            kind, value = "PatientName", self.pseudonyms.patient_name(run.patient_id, original)
        else:
            kind, value = "AccessionNumber", self.pseudonyms.accession(original)
        run.mappings[(kind, original)] = value
        return value

    def _uids(self, value: Any, run: _Run) -> Any:
        values = (
            value
            if isinstance(value, list) or (hasattr(value, "__iter__") and not isinstance(value, str))
            else None
        )
        originals = [str(v) for v in values] if values is not None else [str(value)]
        mapped = []
        for original in originals:
            new = self.pseudonyms.uid(original)
            run.mappings[("uid", original)] = new
            mapped.append(new)
        return mapped if values is not None else mapped[0]

    def _clean(self, elem: Any, run: _Run) -> None:
        vr = elem.VR
        if vr in DATE_VRS:
            if run.offset is not None:
                moved = shift_value(vr, str(elem.value), run.offset)
                elem.value = moved if moved is not None else None
            return
        if vr in TEXT_VRS and run.scrubber is not None:
            if isinstance(elem.value, str):
                elem.value = run.scrubber.clean(elem.value)
            elif elem.VM > 1:
                elem.value = [run.scrubber.clean(str(v)) for v in elem.value]

    def _content_text(self, ds: Dataset, tag: int, run: _Run, content: Action) -> None:
        elem = ds[tag]
        if elem.is_empty:
            return
        if content is Action.CLEAN and run.scrubber is not None:
            elem.value = run.scrubber.clean(str(elem.value))
            run.counts["C"] += 1
        else:
            elem.value = DUMMY_TEXT
            run.counts["D"] += 1

    def _privates(self, ds: Dataset, run: _Run) -> None:
        all_tags = list(ds.keys())
        tags = [int(t) for t in all_tags if (int(t) >> 16) & 1]
        if self.table.private is not Action.CLEAN:
            for tag in tags:
                del ds[tag]
            run.counts["X"] += len(tags)
            return
        creators: dict[tuple[int, int], str] = {}
        for tag in tags:
            if 0x10 <= tag & 0xFFFF <= 0xFF:
                creators[(tag >> 16, tag & 0xFF)] = str(ds[tag].value).strip()
        kept_blocks: set[tuple[int, int]] = set()
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            if element < 0x1000:
                continue
            block = (group, element >> 8)
            creator = creators.get(block)
            if creator is not None and (group, element & 0xFF, creator) in self.safe_private:
                kept_blocks.add(block)
                run.counts["K"] += 1
            else:
                del ds[tag]
                run.counts["X"] += 1
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            if element < 0x1000 and (group, element & 0xFF) not in kept_blocks:
                del ds[tag]
                run.counts["X"] += 1
