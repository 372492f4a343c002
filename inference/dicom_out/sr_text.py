"""The text a report must carry, as TID 1500 content: notes, demonstration notice, disclaimer.

TID 1500 (row 12-14) has a report-level CONTAINER "Qualitative Evaluations" (UMLS C0034375) whose
items may be TEXT. highdicom 0.28 builds the Imaging Measurements part only, so
:class:`ReportWithText` is its Measurement Report completed at construction with that container;
highdicom's reader (``hd.sr.srread``) reads the report as before. Each text is a TEXT item named
"Comment" (DCM 121106): a note of a region starts with the region's name. OHIF lists none of them on the
image (it draws measurement groups only); they are for the report and every other SR reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from inference.dicom_out.common import DEMO_NOTICE, DISCLAIMER, OutputContext
from inference.pipeline import Result

QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
COMMENT = codes.DCM.Comment


def report_texts(result: Result, context: OutputContext) -> list[str]:
    """The demonstration notice (when it applies), the result's notes, the disclaimer; in that order."""
    names = {s.label: s.name for s in result.label_map.segments} if result.label_map else {}
    texts = [DEMO_NOTICE] if context.algorithm.demonstration else []
    for note in result.notes:
        prefix = f"{names.get(note.region, f'region {note.region}')}: " if note.region is not None else ""
        texts.append(prefix + note.text)
    texts.append(DISCLAIMER)
    return texts


class ReportWithText(hd.sr.MeasurementReport):
    """highdicom's TID 1500 Measurement Report with a Qualitative Evaluations container of TEXT items."""

    def __init__(self, *args: Any, texts: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not texts:
            return
        container = hd.sr.ContainerContentItem(
            name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
        )
        container.ContentSequence = hd.sr.ContentSequence(
            [
                hd.sr.TextContentItem(
                    name=COMMENT, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
                )
                for text in texts
            ]
        )
        self[0].ContentSequence.append(container)
