"""What every output shares: identity, series numbering, equipment, algorithm and disclaimer.

Series numbers of AI outputs are fixed and documented so a PACS shows them in a stable place at the
end of the study: SEG 9001, SR 9002, SC 9003 (``SERIES_NUMBERS``). Each output kind gets its own new
series (new Series Instance UID) with SeriesDescription ``AI <pipeline> <SEG|SR|SC>``.

Patient and Study modules are copied from the source by highdicom's constructors; when the node runs
a pipeline on a de-identified copy, the source already carries the pseudonymised identity and so do
the outputs. The source's Specific Character Set is kept, so names in e.g. ISO 2022 IR 149 round-trip.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from dicom_node import MANUFACTURER, UID_ROOT, __version__
from dicom_node.errors import PipelineError
from inference.pipeline import AlgorithmInfo, Result

SERIES_NUMBERS: dict[str, int] = {"SEG": 9001, "SR": 9002, "SC": 9003}
# ASCII on purpose: it must encode under any source character set (e.g. ISO 2022 IR 149).
DISCLAIMER = "NOT FOR DIAGNOSTIC USE - research/assistance only"
MODEL_NAME = "dicom-node inference"
DEVICE_SERIAL = "0"
UTF8 = "ISO_IR 192"
ALGORITHM_FAMILY = Code("123110", "DCM", "Artificial Intelligence")  # CID 7162 (123109 is Manual Processing)
DEMO = "DEMO"
DEMO_NOTICE = "DEMONSTRATION: model trained on synthetic data only - results are not findings"
# Our private coding scheme (PS3.3 8.2): every output that uses one of its codes identifies it.
PRIVATE_SCHEME = "99DCMNODE"
PRIVATE_SCHEME_NAME = "dicom-node local codes"
# Segment colours, the same in the SEG (CIELab) and on the SC key image (sRGB): red, green, blue,
# orange, purple, cyan, magenta, yellow.
PALETTE_RGB: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)
PALETTE_LAB: tuple[tuple[float, float, float], ...] = (
    (50.0, 72.0, 36.0),
    (65.0, -55.0, 47.0),
    (52.0, -4.0, -50.0),
    (67.0, 40.0, 66.0),
    (35.0, 60.0, -56.0),
    (87.0, -44.0, -12.0),
    (60.0, 85.0, -48.0),
    (92.0, -38.0, 80.0),
)


@dataclass(frozen=True)
class OutputContext:
    """The run an output belongs to: pipeline name, algorithm and one creation time for all outputs."""

    pipeline: str
    algorithm: AlgorithmInfo
    created: datetime.datetime
    run: uuid.UUID = field(default_factory=uuid.uuid4)
    schemes: tuple[str, ...] = ()  # private coding scheme designators used by the result

    def series_description(self, kind: str) -> str:
        """``AI <pipeline> <kind>``, with `` DEMO`` when the algorithm runs demonstration weights."""
        suffix = f" {DEMO}" if self.algorithm.demonstration else ""
        return f"AI {self.pipeline} {kind}"[: 64 - len(suffix)] + suffix

    def tracking_uid(self, label: int | str, part: int = 0) -> str:
        """The Tracking UID of region ``label`` in this run: the SEG segment and its SR group share it.

        ``part`` > 0 names the extra groups of a region that has several probabilities; a string label
        names a group of no region (e.g. "whole image").
        """
        key = f"{label}" if part == 0 else f"{label}/{part}"
        return f"2.25.{uuid.uuid5(self.run, key).int}"


def refuse_demonstration_diagnoses(result: Result, context: OutputContext) -> None:
    """Raise PipelineError (naming the pipeline) when demonstration weights made a coded diagnosis.

    The charter's rule, kept here for every pipeline: a result made with demonstration weights
    (``AlgorithmInfo.demonstration``) gives its classes, grades and verdicts as text (Notes), never as
    coded findings; process codes (not evaluated, reasons, run quality) stay coded
    (:attr:`inference.pipeline.Finding.is_coded_diagnosis`).
    """
    if not context.algorithm.demonstration:
        return
    coded = result.coded_diagnoses
    if coded:
        found = "; ".join(f"{f.concept.meaning} = {f.value.meaning}" for f in coded[:3])
        more = f" and {len(coded) - 3} more" if len(coded) > 3 else ""
        raise PipelineError(
            f"pipeline {context.pipeline!r} runs demonstration weights but its result has coded diagnoses"
            f" ({found}{more}): give them as notes (inference.pipeline.as_demonstration)"
        )


def new_uid() -> str:
    """A new UID under our root (2.25 + a random UUID, PS3.5 B.2)."""
    uid = str(generate_uid(prefix=None))
    if not uid.startswith(UID_ROOT):  # pragma: no cover - pydicom's documented behaviour
        raise RuntimeError(f"generated UID {uid} is not under {UID_ROOT}")
    return uid


def new_context(pipeline: str, algorithm: AlgorithmInfo, codes: Iterable[Code] = ()) -> OutputContext:
    """The context of one run; ``codes`` are the result's codes (their private schemes get identified)."""
    schemes = sorted({c.scheme_designator for c in codes if c.scheme_designator.startswith("99")})
    return OutputContext(
        pipeline=pipeline, algorithm=algorithm, created=datetime.datetime.now(), schemes=tuple(schemes)
    )


def coding_schemes(context: OutputContext) -> list[CodingSchemeIdentificationItem]:
    """Coding Scheme Identification Sequence items for the private schemes the result uses."""
    return [
        CodingSchemeIdentificationItem(
            designator=scheme,
            name=PRIVATE_SCHEME_NAME if scheme == PRIVATE_SCHEME else f"{MANUFACTURER} private codes",
            responsible_organization=MANUFACTURER,
        )
        for scheme in context.schemes
    ]


def software_versions(algorithm: AlgorithmInfo) -> str:
    """dicom-node's version and the algorithm's (code + weights) version, in one LO value."""
    return f"dicom-node {__version__}; {algorithm.name} {algorithm.version}"[:64]


def equipment_kwargs(context: OutputContext, kind: str, source: Dataset) -> dict[str, Any]:
    """Keyword arguments shared by highdicom's SOP constructors for one output kind."""
    kwargs: dict[str, Any] = {
        "series_instance_uid": new_uid(),
        "series_number": SERIES_NUMBERS[kind],
        "sop_instance_uid": new_uid(),
        "instance_number": 1,
        "manufacturer": MANUFACTURER,
        "series_description": context.series_description(kind),
        "content_date": context.created.date(),
        "content_time": context.created.time(),
        "series_date": context.created.date(),
        "series_time": context.created.time(),
    }
    charset = character_set(source)
    if charset:
        kwargs["specific_character_set"] = charset
    schemes = coding_schemes(context)
    if schemes:
        kwargs["coding_schemes"] = schemes
    return kwargs


def character_set(source: Dataset) -> list[str] | None:
    """The source's Specific Character Set in a form highdicom accepts, else UTF-8 (ISO_IR 192).

    An empty first value (``\\ISO 2022 IR 149``) means the default repertoire with code extensions,
    which the standard also spells ``ISO 2022 IR 6``. highdicom 0.28 lists Korean code extensions
    under the wrong term (IR 159 for IR 149), so such sources are re-encoded as UTF-8: the decoded
    names stay the same characters.
    """
    value = source.get("SpecificCharacterSet")
    if not value:
        return None
    values = [value] if isinstance(value, str) else list(value)
    values = [v.strip() or "ISO 2022 IR 6" for v in values]
    try:
        for term in values:
            hd.SpecificCharacterSetValues(term)
    except ValueError:
        return [UTF8]
    return values


def parameter_lines(algorithm: AlgorithmInfo) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(algorithm.parameters.items())]


def seg_algorithm_identification(algorithm: AlgorithmInfo) -> hd.AlgorithmIdentificationSequence:
    """Algorithm Identification Sequence (SEG) for ``algorithm``."""
    return hd.AlgorithmIdentificationSequence(
        name=algorithm.name[:64],
        family=ALGORITHM_FAMILY,
        version=algorithm.version[:64],
        source=MANUFACTURER,
        parameters=dict(algorithm.parameters) or None,
    )


def sr_algorithm_identification(algorithm: AlgorithmInfo) -> hd.sr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification (SR): name, version, parameters (the disclaimer is report text)."""
    return hd.sr.AlgorithmIdentification(
        name=algorithm.name,
        version=algorithm.version,
        parameters=parameter_lines(algorithm) or None,
        manufacturer=MANUFACTURER,
    )
