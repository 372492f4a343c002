"""Clean Pixel Data: black out burned-in text found by OCR and by per-device mask templates.

:func:`clean_pixels` decodes the pixel data, masks the template rectangles of the first matching
:class:`anonymizer.settings.PixelRule` (for text the OCR misses, like CTP's and Karnak's per-device masks),
then, when asked to, reads every frame with the OCR (:mod:`anonymizer.ocr`):

* a word read with confidence >= ``CONFIDENT`` is blacked out (its box plus a margin);
* a word of two or more letters/digits read with less confidence means text we cannot clean confidently:
  the file is refused (:class:`AnonymizationRefused`), never released half-cleaned;
* after masking, the frame is read again; any word of two or more characters still seen refuses the file.

The cleaned pixels are stored uncompressed (Explicit VR Little Endian) and Burned In Annotation is set to
NO, because every region found was cleaned. The regions (not the text) are returned for the audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from anonymizer import ocr
from anonymizer.errors import AnonymizationRefused
from anonymizer.pixels import describe
from anonymizer.settings import PixelRule

CONFIDENT = 40.0  # Tesseract word confidence (0-100) from which a word is read well enough to mask
LEFTOVER = 30.0  # after masking, a word seen with this confidence or more refuses the file
MAX_OCR_FRAMES = 16  # more frames (cine loops) need a mask template: OCR of each frame is too slow
MARGIN = 0.35  # extra border around a word, as a fraction of its height


@dataclass(frozen=True)
class Region:
    """A masked rectangle: frame index (-1: every frame), x, y, width, height, and what found it."""

    frame: int
    x: int
    y: int
    width: int
    height: int
    found_by: str

    def as_list(self) -> list[int | str]:
        return [self.frame, self.x, self.y, self.width, self.height, self.found_by]


def _frames(ds: Dataset) -> np.ndarray:
    try:
        array = ds.pixel_array
    except Exception as exc:  # no decoder for this transfer syntax, or broken pixel data
        raise AnonymizationRefused(
            f"burned-in text: cannot decode the pixel data to look for text ({type(exc).__name__}; "
            f"{describe(ds)})"
        ) from None
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        array = apply_color_lut(array, ds)
    multi = int(ds.get("NumberOfFrames", 1) or 1) > 1
    return np.array(array, copy=True) if multi else np.array(array, copy=True)[None, ...]


def _mask(frame: np.ndarray, x: int, y: int, width: int, height: int) -> None:
    frame[max(0, y) : y + height, max(0, x) : x + width, ...] = 0


def _ocr_frame(frame: np.ndarray, index: int, where: str, done: list[Region]) -> list[Region]:
    scale = ocr.value_range(frame)
    words = ocr.find_text(frame, [(r.x, r.y, r.width, r.height) for r in done], scale)
    uncertain = [w for w in words if w.confidence < CONFIDENT and w.characters >= 2]
    if uncertain:
        raise AnonymizationRefused(
            f"burned-in text the OCR cannot read confidently: {len(uncertain)} word(s) below "
            f"{CONFIDENT:.0f}% confidence in frame {index}; add a mask template for this device ({where})"
        )
    regions = []
    for word in words:
        if word.confidence < CONFIDENT:
            continue  # a lone low-confidence character: noise
        pad = max(2, int(word.height * MARGIN))
        region = Region(index, word.x - pad, word.y - pad, word.width + 2 * pad, word.height + 2 * pad, "ocr")
        _mask(frame, region.x, region.y, region.width, region.height)
        regions.append(region)
    if regions:
        boxes = [(r.x, r.y, r.width, r.height) for r in done + regions]
        again = ocr.find_text(frame, boxes, scale)
        left = [w for w in again if w.characters >= 2 and w.confidence >= LEFTOVER]
        if left:
            raise AnonymizationRefused(
                f"burned-in text: {len(left)} word(s) still read in frame {index} after masking ({where})"
            )
    return regions


def clean_pixels(ds: Dataset, rule: PixelRule | None, *, use_ocr: bool) -> list[Region]:
    """Mask template rectangles and (``use_ocr``) OCR-found text in place; the regions masked."""
    where = describe(ds)
    frames = _frames(ds)
    regions: list[Region] = []
    if rule is not None:
        for x, y, width, height in rule.rectangles:
            for frame in frames:
                _mask(frame, x, y, width, height)
            regions.append(Region(-1, x, y, width, height, "template"))
    if use_ocr:
        if len(frames) > MAX_OCR_FRAMES:
            raise AnonymizationRefused(
                f"burned-in text: {len(frames)} frames are too many to OCR (at most {MAX_OCR_FRAMES}); "
                f"add a mask template for this device ({where})"
            )
        templates = list(regions)
        for index, frame in enumerate(frames):
            regions.extend(_ocr_frame(frame, index, where, templates))
    if regions:
        _store(ds, frames)
    ds.BurnedInAnnotation = "NO"
    return regions


def _store(ds: Dataset, frames: np.ndarray) -> None:
    """Write the cleaned frames back, uncompressed."""
    array = frames if int(ds.get("NumberOfFrames", 1) or 1) > 1 else frames[0]
    photometric = str(ds.PhotometricInterpretation)
    if photometric.startswith("YBR") or photometric == "PALETTE COLOR":
        photometric = "RGB"  # decoded to RGB by pydicom (or through the palette above)
    bits = int(ds.BitsStored) if array.dtype.itemsize * 8 >= int(ds.BitsStored) else array.dtype.itemsize * 8
    if photometric == "RGB" and array.dtype == np.uint8:
        bits = 8
    ds.set_pixel_data(array, photometric_interpretation=photometric, bits_stored=bits)
    if hasattr(ds, "file_meta"):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
