"""Read a skin photograph from its DICOM dataset as RGB, and find the skin on it.

Photographs are colour 2D images without pixel spacing (VL Photographic, Secondary Capture; RGB, or
YBR_FULL / YBR_FULL_422, often JPEG Baseline encapsulated), which the volume loader refuses. They are
decoded here with pydicom's pixel handlers, which convert YBR to RGB. A monochrome image is accepted
as grey RGB (its grades then mean little for erythema).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGBaseline8Bit

from dicom_node.errors import InputError

COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT"}
GREY = {"MONOCHROME1", "MONOCHROME2"}
# Skin in YCbCr (the classic explicit rule, with Cr widened to keep strongly red lesions).
CB_RANGE = (77.0, 135.0)
CR_RANGE = (133.0, 200.0)
MIN_LUMA = 40.0


def _jpeg_baseline_rgb(ds: Dataset, max_side: int) -> np.ndarray | None:
    """Fast path for the common case (JPEG Baseline, one frame): libjpeg decodes straight to RGB and,
    through its DCT scaling ("draft" mode), at the smallest power-of-two reduction that still has
    ``max_side`` pixels on the long side. None when the stream is not such a JPEG."""
    if (
        str(ds.file_meta.get("TransferSyntaxUID", "")) != JPEGBaseline8Bit
        or int(ds.get("NumberOfFrames", 1) or 1) > 1
    ):
        return None
    try:
        fragment = next(generate_frames(ds.PixelData, number_of_frames=1))
        image = Image.open(io.BytesIO(fragment))
        rows, cols = int(ds.Rows), int(ds.Columns)
        image.draft(
            "RGB", (max(1, cols * max_side // max(rows, cols)), max(1, rows * max_side // max(rows, cols)))
        )
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, StopIteration):
        return None  # let pydicom's decoders try, and report


def photograph_rgb(ds: Dataset, max_side: int | None = None) -> np.ndarray:
    """The photograph in ``ds`` as (rows, cols, 3) uint8 RGB (first frame of a multi-frame image).

    With ``max_side`` a JPEG photograph may come back smaller (never below ``max_side`` on its long
    side): grading works on tiles far smaller than a camera's resolution, so full-size decoding is waste.
    """
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if max_side and photometric in COLOUR:
        fast = _jpeg_baseline_rgb(ds, max_side)
        if fast is not None:
            return fast
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if photometric not in COLOUR | GREY:
        raise InputError(f"photometric interpretation {photometric!r} is not a photograph (RGB / YBR)")
    if "PixelData" not in ds:
        raise InputError("the image has no pixel data")
    try:
        pixels = np.asarray(ds.pixel_array)  # pydicom converts YBR_* to RGB (as_rgb defaults to True)
    except Exception as exc:  # decoder missing or corrupt stream: a property of the input
        raise InputError(f"cannot decode the photograph: {type(exc).__name__}: {exc}") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[0]
    if photometric in GREY:
        if pixels.ndim != 2:
            raise InputError(f"monochrome image of shape {pixels.shape}")
        if bits > 8:
            low, high = float(pixels.min()), float(pixels.max())
            pixels = (pixels - low) / max(high - low, 1.0) * 255.0
        if photometric == "MONOCHROME1":
            pixels = pixels.max() - pixels
        pixels = np.repeat(np.clip(pixels, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise InputError(f"expected an RGB photograph, got pixel data of shape {pixels.shape}")
    if bits != 8:
        raise InputError(f"expected 8 bits per sample, got {bits}")
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of skin-coloured pixels (YCbCr box rule) of an RGB uint8 image."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return (
        (luma > MIN_LUMA)
        & (cb >= CB_RANGE[0])
        & (cb <= CB_RANGE[1])
        & (cr >= CR_RANGE[0])
        & (cr <= CR_RANGE[1])
    )
