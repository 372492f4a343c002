"""Finding Site (SCT, with laterality) of each SR measurement group.

A region's site is its segment's anatomic region, else its segmented property type when the
category is an anatomical structure (a lung, a lobe, the brain). Whole-image results take the site
the segments share (both sides: laterality "Right and left"), else the source's Body Part Examined
(a small table of the defined terms we meet), else none: a site is never guessed.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from inference.pipeline import LATERALITY_LEFT, LATERALITY_RIGHT, Result, Segment

BOTH_SIDES = Code("51440002", "SCT", "Right and left")
ANATOMICAL = {("91723000", "SCT"), ("123037004", "SCT")}  # Anatomical structure, Body structure
BODY_PARTS = {
    "CHEST": Code("51185008", "SCT", "Thorax"),
    "THORAX": Code("51185008", "SCT", "Thorax"),
    "LUNG": Code("39607008", "SCT", "Lung"),
    "HEAD": Code("69536005", "SCT", "Head"),
    "BRAIN": Code("12738006", "SCT", "Brain"),
    "ABDOMEN": Code("818981001", "SCT", "Abdomen"),
    "SKIN": Code("39937001", "SCT", "Skin"),
}


def segment_site(segment: Segment) -> Code | None:
    if segment.anatomic_region is not None:
        return segment.anatomic_region
    category = (segment.category.value, segment.category.scheme_designator)
    return segment.type if category in ANATOMICAL else None


def finding_sites(site: Code | None, laterality: Code | None) -> list[hd.sr.FindingSite] | None:
    if site is None:
        return None
    return [hd.sr.FindingSite(anatomic_location=site, laterality=laterality)]


def region_sites(segment: Segment) -> list[hd.sr.FindingSite] | None:
    return finding_sites(segment_site(segment), segment.laterality)


def whole_image_sites(result: Result, source: Dataset) -> list[hd.sr.FindingSite] | None:
    """The site shared by every segment (with the lateralities combined), else the body part."""
    segments = list(result.label_map.segments) if result.label_map is not None else []
    sites = {segment_site(s) for s in segments}
    if len(sites) == 1 and None not in sites:
        [site] = sites
        sides = {s.laterality for s in segments}
        laterality = None
        if sides == {LATERALITY_LEFT, LATERALITY_RIGHT}:
            laterality = BOTH_SIDES
        elif len(sides) == 1:
            [laterality] = sides
        return finding_sites(site, laterality)
    body_part = str(source.get("BodyPartExamined", "") or "").strip().upper()
    return finding_sites(BODY_PARTS.get(body_part), None)
