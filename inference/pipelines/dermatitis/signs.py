"""The three graded signs of atopic dermatitis and the 0-3 severity scale, as codes.

Erythema is SNOMED CT 247441003 as DICOM lists it (CID 4406). The code tables available here do not
list excoriation or lichenification, so those two use our local coding scheme ``99DCMNODE`` (PS3.3
8.2: private scheme designators start with "99") rather than a SNOMED code we cannot verify. (Checked
again in November 2026 against the reference material reachable here: no SNOMED browser page, DICOM CID
table or published code list gave a concept ID for "Lichenification (morphologic abnormality)"; an ID
for "Excoriation (morphologic abnormality)" appeared only in a third-party test fixture, which is no
authority. Switch both when a SNOMED CT release can be consulted.) The
severity values 0-3 map to the SNOMED severity qualifiers of DICOM CID 3716 (None, Mild, Moderate,
Severe), in the paper's scale (0 none ... 3 severe).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.sr.coding import Code

LOCAL_SCHEME = "99DCMNODE"


@dataclass(frozen=True)
class Sign:
    key: str  # lower-case name used in folders, CSV columns and metadata
    title: str  # as printed in the paper's Table 3
    code: Code
    area_code: Code  # concept of the area-weighted severity measurement


SIGNS: tuple[Sign, ...] = (
    Sign(
        "erythema",
        "Erythema",
        Code("247441003", "SCT", "Erythema"),
        Code("ERY-AW", LOCAL_SCHEME, "Erythema area-weighted severity"),
    ),
    Sign(
        "excoriation",
        "Excoriation",
        Code("EXCORIATION", LOCAL_SCHEME, "Excoriation"),
        Code("EXC-AW", LOCAL_SCHEME, "Excoriation area-weighted severity"),
    ),
    Sign(
        "lichenification",
        "Lichenification",
        Code("LICHENIFICATION", LOCAL_SCHEME, "Lichenification"),
        Code("LIC-AW", LOCAL_SCHEME, "Lichenification area-weighted severity"),
    ),
)
SIGN_KEYS: tuple[str, ...] = tuple(s.key for s in SIGNS)
LEVELS = 4  # severity 0 (none) .. 3 (severe)

SEVERITY: tuple[Code, ...] = (
    Code("260413007", "SCT", "None"),
    Code("255604002", "SCT", "Mild"),
    Code("6736007", "SCT", "Moderate"),
    Code("24484000", "SCT", "Severe"),
)
SIGN_SUM = Code("SIGNSUM", LOCAL_SCHEME, "Sum of erythema, excoriation and lichenification severity")
GRADED_TILES = Code("TILES", LOCAL_SCHEME, "Number of graded tiles")
SCORE = Code("{score}", "UCUM", "score")
COUNT = Code("1", "UCUM", "no units")


def sign(key: str) -> Sign:
    for item in SIGNS:
        if item.key == key:
            return item
    raise KeyError(key)
