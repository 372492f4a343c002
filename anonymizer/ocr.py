"""Burned-in text detection with Tesseract (Debian ``tesseract-ocr``), called as a subprocess.

:func:`find_text` takes one frame (2-D grey or 3-D colour array of any bit depth) and returns the words
the OCR saw, each with its box in frame pixels and its confidence. The frame is scaled to 8 bits,
binarised by local contrast (ink is what differs strongly from its neighbourhood: any polarity, any
colour), cleared of specks, enlarged for small images and read in sparse-text mode (``--psm 11``:
text anywhere, no page layout). The text itself is never logged or stored; callers keep the boxes only.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import label, uniform_filter

from anonymizer.errors import AnonymizationRefused

TIMEOUT_S = 60
BACKGROUND_PX = 61  # neighbourhood (pixels) a glyph is compared with
CONTRAST = 48  # of 255: a pixel this much brighter or darker than its neighbourhood is ink
MIN_SPECK_PX = 6  # connected ink smaller than this (pixels) is noise
MIN_GLYPH_PX = 6  # words lower than this (in image pixels) are ignored
MIN_SIDE = 600  # frames smaller than this are enlarged (Tesseract reads glyphs of ~20+ px best)


@dataclass(frozen=True)
class Word:
    """One word the OCR saw: box in frame pixels (x, y, width, height) and confidence 0-100."""

    x: int
    y: int
    width: int
    height: int
    confidence: float
    characters: int  # letters and digits in the word (the text itself is not kept)


def tesseract() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise AnonymizationRefused(
            "Clean Pixel Data needs the OCR engine: install the Debian package tesseract-ocr"
        )
    return exe


def grey8(frame: np.ndarray) -> np.ndarray:
    """The frame as 8-bit grey (luminance of colour frames), stretched to its own range."""
    values = frame.astype(np.float32)
    if values.ndim == 3:
        values = values[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return ((values - low) * (255.0 / (high - low))).astype(np.uint8)


def value_range(frame: np.ndarray) -> tuple[float, float]:
    return float(frame.min()), float(frame.max())


def binarise(frame: np.ndarray, scale: tuple[float, float] | None = None) -> np.ndarray:
    """Black glyphs on white for the OCR: pixels that differ strongly from their neighbourhood, whatever
    the polarity or colour of the text (the largest difference over the colour channels)."""
    values = frame.astype(np.float32)
    channels = values[..., :3] if values.ndim == 3 else values[..., None]
    low, high = scale if scale is not None else value_range(channels)
    if high <= low:
        return np.full(channels.shape[:2], 255, dtype=np.uint8)
    channels = (channels - low) * (255.0 / (high - low))
    background = uniform_filter(channels, size=(BACKGROUND_PX, BACKGROUND_PX, 1))
    ink = np.abs(channels - background).max(axis=2) >= CONTRAST
    labels, count = label(ink)
    if count:
        sizes = np.bincount(labels.ravel())
        ink &= sizes[labels] >= MIN_SPECK_PX  # isolated specks (noise, speckle) are not glyphs
    return np.where(ink, 0, 255).astype(np.uint8)


def find_text(
    frame: np.ndarray,
    masked: Sequence[tuple[int, int, int, int]] = (),
    scale: tuple[float, float] | None = None,
) -> list[Word]:
    """Words in one frame (boxes in the frame's pixels); ``masked`` rectangles (already blacked out) are
    left out, with their edges, which the local-contrast binarisation would otherwise take for ink.
    ``scale``: the value range to stretch to 8 bits (the frame's own by default; pass the range before
    masking when reading a masked frame again, so that the contrast threshold means the same)."""
    page = binarise(frame, scale)
    for x, y, width, height in masked:
        page[max(0, y - 2) : y + height + 2, max(0, x - 2) : x + width + 2] = 255
    height, width = page.shape
    zoom = max(1, -(-MIN_SIDE // max(1, min(height, width))))
    image = Image.fromarray(page)
    if zoom > 1:
        image = image.resize((width * zoom, height * zoom), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    try:
        proc = subprocess.run(
            [tesseract(), "stdin", "stdout", "--psm", "11", "-l", "eng", "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AnonymizationRefused("the OCR did not finish reading the image") from None
    if proc.returncode != 0:
        raise AnonymizationRefused("the OCR could not read the image")
    return _words(proc.stdout.decode("utf-8", "replace"), zoom)


def _words(tsv: str, scale: int) -> list[Word]:
    words: list[Word] = []
    for line in tsv.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) != 12 or not cells[11].strip():
            continue
        characters = sum(c.isalnum() for c in cells[11])
        if characters == 0:
            continue
        left, top, w, h = (int(c) for c in cells[6:10])
        word = Word(left // scale, top // scale, -(-w // scale), -(-h // scale), float(cells[10]), characters)
        if word.height >= MIN_GLYPH_PX:  # smaller marks are speckle, not text anyone could read
            words.append(word)
    return words
