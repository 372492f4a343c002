"""Radiograph pixels to and from the working resolution, and the image / mask files training reads.

Every image (DICOM pixels in the pipeline, PNG or DICOM in training) goes through :func:`to_working`:
grey values scaled from their 0.5th-99.5th percentile to [0, 1] and resized (area-averaging PIL
resampling) to a square of ``size`` pixels. MONOCHROME1 images are inverted first, so dense is bright.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_rescale

from dicom_node.errors import InputError
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")


def normalise(pixels: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] from the 0.5th-99.5th percentile (a uniform image becomes all zero).

    Returns a new float32 array; the arithmetic runs in place in it (one full-size buffer, no float64
    temporaries: a 3000 x 3000 radiograph costs one pass per step instead of one allocation).
    """
    values = np.asarray(pixels, dtype=np.float32)
    step = max(1, int(np.sqrt(values.size / 250_000)))  # percentiles from about 250k pixels
    low, high = np.percentile(values[::step, ::step], [0.5, 99.5])
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    scaled = np.subtract(values, np.float32(low), dtype=np.float32)
    np.divide(scaled, np.float32(high - low), out=scaled)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def resize(values: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize a 2D array to ``shape`` (rows, cols): bilinear with area averaging, or nearest for labels."""
    if tuple(values.shape) == tuple(shape):
        return np.array(values, copy=True)
    if nearest:
        picture = Image.fromarray(np.asarray(values, dtype=np.uint8))
        return np.asarray(picture.resize((shape[1], shape[0]), Image.Resampling.NEAREST))
    picture = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def to_working(pixels: np.ndarray, size: int) -> np.ndarray:
    """A 2D radiograph (dense = bright) as a ``size`` x ``size`` float32 image in [0, 1]."""
    return resize(normalise(pixels), (size, size))


def upsample(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear enlargement of a small 2D float map to ``shape`` (half-pixel centres, edges held),
    float32. The same interpolation as :func:`resize` (PIL's bilinear filter when enlarging) at a
    third of its cost for a 128 -> 3000 map; torch runs it on the caller's thread setting."""
    import torch
    import torch.nn.functional as F

    small = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    with torch.inference_mode():
        large = F.interpolate(small, size=tuple(shape), mode="bilinear", align_corners=False)
    return np.asarray(large[0, 0].numpy())


def read_dicom_pixels(path: Path) -> np.ndarray:
    """Modality values of a single-frame DICOM image, MONOCHROME1 inverted, colour as its first channel."""
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise InputError(f"{path.name}: DICOM file without pixel data")
    pixels = apply_rescale(ds.pixel_array, ds).astype(np.float32)
    if pixels.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) > 1:
        pixels = pixels[..., 0]
    elif pixels.ndim == 3:
        pixels = pixels[0]
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = pixels.max() - pixels
    return pixels


def read_image(path: Path) -> np.ndarray:
    """The grey values of a PNG / JPEG (8 or 16 bit; colour converted to grey) or DICOM image."""
    if path.suffix.lower() == ".dcm":
        return read_dicom_pixels(path)
    with Image.open(path) as picture:
        if picture.mode in ("I;16", "I;16B", "I", "F", "L"):
            return np.asarray(picture, dtype=np.float32)
        return np.asarray(picture.convert("L"), dtype=np.float32)


def read_mask(path: Path) -> np.ndarray:
    """A lung mask PNG as labels 0 / 1 (right lung) / 2 (left lung).

    Values {0, 1, 2} are taken as they are. A binary mask (any two values) is split into the two
    lungs by connected component: the component whose centre lies on the image's left is the right
    lung (radiological display).
    """
    with Image.open(path) as picture:
        values = np.asarray(picture.convert("L") if picture.mode not in ("L", "P", "I") else picture)
    values = np.asarray(values, dtype=np.int64)
    present = set(np.unique(values).tolist())
    if present <= {0, RIGHT_LUNG, LEFT_LUNG}:
        return values.astype(np.uint8)
    if len(present) != 2:
        raise InputError(f"{path.name}: mask values {sorted(present)[:6]}: expected 0/1/2 or a binary mask")
    from scipy import ndimage

    foreground = values == max(present)
    components, count = ndimage.label(foreground)
    labels = np.zeros(values.shape, np.uint8)
    middle = values.shape[1] / 2
    for index in range(1, count + 1):
        columns = np.nonzero(components == index)[1]
        labels[components == index] = RIGHT_LUNG if columns.mean() < middle else LEFT_LUNG
    return labels
