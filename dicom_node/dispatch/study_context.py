"""Study context for a job: the presentation states (GSPS) and SEGs that other series put on this one.

A PACS sends a region drawn on an image (a GSPS outline, a SEG) as a series of its own in the same study,
so the series folder a pipeline gets never holds it. Before a pipeline job runs, the executor calls
:func:`collect_study_context`: it looks in the ledger for stored PR / SEG instances of the same study,
keeps those whose header references the series being processed (Referenced Series Sequence by Series
Instance UID, or any referenced image / source image of the series), and hard-links them (copies where
links are impossible) into ``jobs/<id>/context/``, the folder *beside* the job's ``input/`` folder.

Contract with pipelines (:mod:`inference.study_context`, the reader's side, whose folder names this
module writes): the series folder a pipeline reads stays "one series"; a pipeline that can use study
context reads it through ``Series.context`` (:meth:`~inference.study_context.StudyContext.objects`) and
must ignore objects there that do not reference its images. Only what had been received when
the job started is collected: a region that arrives later does not re-run the job (see the dermatitis
notes on ``series.complete_after_s``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    BlendingSoftcopyPresentationStateStorage,
    ColorSoftcopyPresentationStateStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    PseudoColorSoftcopyPresentationStateStorage,
    SegmentationStorage,
    XAXRFGrayscaleSoftcopyPresentationStateStorage,
)

from dicom_node.ledger import Ledger
from dicom_node.logsetup import get_logger
from dicom_node.storage import Storage
from inference.study_context import STUDY_CONTEXT_DIR

log = get_logger("dicom_node.study_context")

# Softcopy presentation states whose Graphic Annotation module draws on referenced images, and SEG.
CONTEXT_SOP_CLASSES: frozenset[str] = frozenset(
    {
        GrayscaleSoftcopyPresentationStateStorage,
        ColorSoftcopyPresentationStateStorage,
        PseudoColorSoftcopyPresentationStateStorage,
        BlendingSoftcopyPresentationStateStorage,
        XAXRFGrayscaleSoftcopyPresentationStateStorage,
        SegmentationStorage,
    }
)


def study_context_dir(series_dir: Path) -> Path:
    """Where the study context of the series in ``series_dir`` lies: the sibling ``context`` folder."""
    return Path(series_dir).parent / STUDY_CONTEXT_DIR


def referenced_series_and_images(ds: Dataset) -> tuple[set[str], set[str]]:
    """Series Instance UIDs and SOP Instance UIDs that a PR or SEG header refers to."""
    series: set[str] = set()
    images: set[str] = set()
    for item in ds.get("ReferencedSeriesSequence", []):
        if "SeriesInstanceUID" in item:
            series.add(str(item.SeriesInstanceUID))
        for key in ("ReferencedImageSequence", "ReferencedInstanceSequence"):
            images |= {str(ref.ReferencedSOPInstanceUID) for ref in item.get(key, [])}
    for annotation in ds.get("GraphicAnnotationSequence", []):
        images |= {str(ref.ReferencedSOPInstanceUID) for ref in annotation.get("ReferencedImageSequence", [])}
    images |= {str(ref.ReferencedSOPInstanceUID) for ref in ds.get("SourceImageSequence", [])}
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame.get("DerivationImageSequence", []):
            images |= {str(ref.ReferencedSOPInstanceUID) for ref in derivation.get("SourceImageSequence", [])}
    return series, images


def collect_study_context(
    ledger: Ledger,
    storage: Storage,
    series_instance_uid: str,
    study_instance_uid: str | None,
    dest_dir: Path,
) -> list[Path]:
    """Link the study's PR / SEG instances that reference the series into ``dest_dir``; return them.

    ``dest_dir`` is emptied first (a retried job gets a fresh context) and left absent when nothing
    qualifies. ``study_instance_uid`` may be None: it is then looked up from the series' instances.
    Read-only on the ledger; unreadable or vanished files are skipped.
    """
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
    study = study_instance_uid or ledger.study_of_series(series_instance_uid)
    if not study:
        return []
    paths = ledger.study_objects_of_classes(study, CONTEXT_SOP_CLASSES, except_series=series_instance_uid)
    own_images = ledger.series_sop_instance_uids(series_instance_uid)
    collected: list[Path] = []
    for relative in paths:
        source = storage.absolute(relative)
        try:
            header = dcmread(source, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError):
            log.warning("study_context_unreadable", file=Path(relative).name)
            continue
        series, images = referenced_series_and_images(header)
        if series_instance_uid not in series and not (images & own_images):
            continue
        target = dest_dir / Path(relative).name
        storage.link_or_copy(source, target)
        collected.append(target)
    log.info("study_context_collected", candidates=len(paths), collected=len(collected))
    return collected
