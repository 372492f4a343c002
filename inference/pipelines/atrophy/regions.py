"""The paper's 10 regions from the brainchop model's 104-label aparc+aseg (Desikan-Killiany) output.

Seed 004 (AI-Hub 2020 dementia MRI data set) annotates atrophy in 10 regions: frontal, temporal,
parietal and occipital cortex and the hippocampus, left and right, with codes 1x/2x (left/right frontal),
3x/4x (temporal), 5x/6x (parietal), 7x/8x (occipital), 9x/10x (hippocampus), x = 1 atrophy / 0 none.
The seed is inconsistent for the right hippocampus: its table gives 10x (100 / 101), but the caption of
its example says "Right Hippocampus ... no atrophy: annotation 10", which is the table's code for "left
frontal, no atrophy". We follow the table (100 = right hippocampus without, 101 with atrophy); a "10"
is read as left frontal cortex without atrophy.

Cortical parcels are grouped into lobes following FreeSurfer's lobe mapping of the Desikan-Killiany(-
Tourville) parcels (FreeSurferWiki "CorticalParcellation", section on lobes, which is what
``mri_annotation2label --lobesStrict`` produces), with the cingulate split as ``--lobesStrict`` does:
rostral/caudal anterior cingulate → frontal, posterior/isthmus cingulate → parietal. The insula belongs to
none of the four lobes and is left out, as in that mapping. (Mapping restated from the FreeSurfer
documentation; we could not re-check the wiki page offline, so treat it as our reading of it.)

Labels 1-34 are ``ctx-lh-*``, 35-68 ``ctx-rh-*`` (same parcel order), 77/78 Left/Right-Hippocampus in
the model's ``colormap.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.sr.coding import Code

from inference.pipeline import LATERALITY_LEFT, LATERALITY_RIGHT, Segment

ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
FRONTAL_LOBE = Code("83251001", "SCT", "Frontal lobe")
TEMPORAL_LOBE = Code("78277001", "SCT", "Temporal lobe")
PARIETAL_LOBE = Code("16630005", "SCT", "Parietal lobe")
OCCIPITAL_LOBE = Code("31065004", "SCT", "Occipital lobe")
HIPPOCAMPUS = Code("5366008", "SCT", "Hippocampus")

# Desikan-Killiany (FreeSurfer ``aparc``, not DKT) parcel names in the model's label order (labels 1..34
# left, 35..68 right). It is DK: the 34 parcels include bankssts, frontalpole and temporalpole, which the
# DKT atlas (31 parcels) does not have; these are the names of BrainChart's regional models.
DK_PARCELS = (
    "bankssts", "caudalanteriorcingulate", "caudalmiddlefrontal", "cuneus", "entorhinal", "fusiform",
    "inferiorparietal", "inferiortemporal", "isthmuscingulate", "lateraloccipital", "lateralorbitofrontal",
    "lingual", "medialorbitofrontal", "middletemporal", "parahippocampal", "paracentral", "parsopercularis",
    "parsorbitalis", "parstriangularis", "pericalcarine", "postcentral", "posteriorcingulate", "precentral",
    "precuneus", "rostralanteriorcingulate", "rostralmiddlefrontal", "superiorfrontal", "superiorparietal",
    "superiortemporal", "supramarginal", "frontalpole", "temporalpole", "transversetemporal", "insula",
)  # fmt: skip
LEFT_OFFSET, RIGHT_OFFSET = 1, 35
LEFT_HIPPOCAMPUS, RIGHT_HIPPOCAMPUS = 77, 78

LOBES: dict[str, tuple[str, ...]] = {
    "frontal": (
        "superiorfrontal", "rostralmiddlefrontal", "caudalmiddlefrontal", "parsopercularis",
        "parstriangularis", "parsorbitalis", "lateralorbitofrontal", "medialorbitofrontal", "precentral",
        "paracentral", "frontalpole", "rostralanteriorcingulate", "caudalanteriorcingulate",
    ),
    "temporal": (
        "superiortemporal", "middletemporal", "inferiortemporal", "bankssts", "fusiform",
        "transversetemporal", "entorhinal", "temporalpole", "parahippocampal",
    ),
    "parietal": (
        "superiorparietal", "inferiorparietal", "supramarginal", "postcentral", "precuneus",
        "posteriorcingulate", "isthmuscingulate",
    ),
    "occipital": ("lateraloccipital", "lingual", "cuneus", "pericalcarine"),
}  # fmt: skip
UNASSIGNED = ("insula",)


@dataclass(frozen=True)
class Region:
    """One of the paper's 10 regions: our label, the paper's annotation number, its parts in the model."""

    label: int  # 1..10 in the output label map
    structure: str  # frontal | temporal | parietal | occipital | hippocampus
    side: str  # left | right
    annotation: int  # the paper's region number: 1..10 (code = 10 * annotation + atrophy)
    model_labels: tuple[int, ...]

    @property
    def name(self) -> str:
        kind = "hippocampus" if self.structure == "hippocampus" else f"{self.structure} cortex"
        return f"{self.side.capitalize()} {kind}"

    def code(self, atrophy: bool) -> int:
        """The paper's annotation code: 11 = left frontal atrophy, 10 = none, ..., 101 / 100."""
        return 10 * self.annotation + int(atrophy)

    def segment(self) -> Segment:
        types = {
            "frontal": FRONTAL_LOBE,
            "temporal": TEMPORAL_LOBE,
            "parietal": PARIETAL_LOBE,
            "occipital": OCCIPITAL_LOBE,
            "hippocampus": HIPPOCAMPUS,
        }
        return Segment(
            label=self.label,
            name=self.name,
            category=ANATOMICAL_STRUCTURE,
            type=types[self.structure],
            laterality=LATERALITY_LEFT if self.side == "left" else LATERALITY_RIGHT,
            tracking_id=self.name,
        )


def _cortex(lobe: str, offset: int) -> tuple[int, ...]:
    return tuple(offset + DK_PARCELS.index(parcel) for parcel in LOBES[lobe])


def _regions() -> tuple[Region, ...]:
    regions = []
    for number, structure in enumerate(("frontal", "temporal", "parietal", "occipital", "hippocampus")):
        for side_index, side in enumerate(("left", "right")):
            annotation = 2 * number + side_index + 1
            if structure == "hippocampus":
                parts: tuple[int, ...] = (LEFT_HIPPOCAMPUS if side == "left" else RIGHT_HIPPOCAMPUS,)
            else:
                parts = _cortex(structure, LEFT_OFFSET if side == "left" else RIGHT_OFFSET)
            regions.append(Region(annotation, structure, side, annotation, parts))
    return tuple(regions)


REGIONS: tuple[Region, ...] = _regions()


def group_labels(parcellation: np.ndarray) -> np.ndarray:
    """The 10-region label map (uint8, 0 = none) from the 104-label parcellation."""
    lookup = np.zeros(256, dtype=np.uint8)
    for region in REGIONS:
        lookup[list(region.model_labels)] = region.label
    return lookup[parcellation.astype(np.uint8)]
