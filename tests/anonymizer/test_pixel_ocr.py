"""Clean Pixel Data by OCR (real Tesseract): burned-in names and dates blacked out, the header saying so,
the regions in the audit; text the OCR cannot read confidently refused; mask templates for OCR misses."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from anonymizer import ocr
from anonymizer.batch import run_batch
from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizationRefused
from anonymizer.settings import PixelRule, ProfileSettings

KEY = b"ocr-test-key-0123456789abcdef012"
TEXT = [((10, 8), "DOE, JANE  ID 778899"), ((400, 8), "2024-01-05 10:15"), ((10, 450), "ST MARY HOSPITAL")]
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def _render(blur: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 ultrasound-like frame with burned-in text, and the mask of the text's own pixels."""
    rng = np.random.default_rng(1)
    frame = rng.normal(40, 15, (480, 640)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:480, :640]
    frame[((yy - 260) / 150) ** 2 + ((xx - 320) / 220) ** 2 < 1] += 60  # the "anatomy"
    image, ink = Image.fromarray(frame), Image.new("L", (640, 480), 0)
    font = ImageFont.load_default(size=18)
    for (x, y), text in TEXT:
        ImageDraw.Draw(image).text((x, y), text, fill=255, font=font)
        ImageDraw.Draw(ink).text((x, y), text, fill=255, font=font)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(image), np.asarray(ink) > 0


def _ultrasound(pixels: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = US_IMAGE, "1.2.826.0.1.3680043.8.498.77"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.78", "1.2.826.0.1.3680043.8.498.79"
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", "ACME", "Sono 3"
    ds.PatientName, ds.PatientID = "Doe^Jane", "778899"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    return ds


def _words_left(pixels: np.ndarray, masked: list[list[int]], source: np.ndarray) -> list[ocr.Word]:
    boxes = [(x, y, w, h) for _, x, y, w, h, *_ in masked]
    return [w for w in ocr.find_text(pixels, boxes, ocr.value_range(source)) if w.characters >= 2]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, object]]]:
    source = tmp_path_factory.mktemp("ocr-in")
    sharp, _ = _render()
    _ultrasound(sharp).save_as(source / "sharp.dcm", enforce_file_format=True)
    _ultrasound(_render(blur=2.0)[0]).save_as(source / "blurred.dcm", enforce_file_format=True)
    out = tmp_path_factory.mktemp("ocr-out") / "out"
    run_batch(source, out, ProfileSettings(options=["clean_pixel_data"]), KEY, jobs=1)
    records = [json.loads(line) for line in (out / "anonymize-audit.jsonl").read_text().splitlines()]
    return out, {str(r["source"]): r for r in records}


def test_burned_in_name_and_date_are_blacked_out(batch: tuple[Path, dict[str, dict[str, object]]]) -> None:
    out, records = batch
    record = records["sharp.dcm"]
    assert record["status"] == "ok"
    regions = record["masked_regions"]
    assert isinstance(regions, list) and len(regions) >= 3 and all(r[-1] == "ocr" for r in regions)
    assert "778899" not in json.dumps(record) and "JANE" not in json.dumps(record)  # regions, not text
    ds = pydicom.dcmread(out / "sharp.dcm")
    source, ink = _render()
    cleaned = ds.pixel_array
    assert np.all(cleaned[ink] == 0)  # every pixel of the text is black
    masked = np.zeros_like(ink)
    for _, x, y, w, h, _ in regions:
        masked[max(0, y) : y + h, max(0, x) : x + w] = True
    assert np.array_equal(cleaned[~masked], source[~masked])  # the rest of the image is untouched
    assert masked.mean() < 0.1
    assert ds.BurnedInAnnotation == "NO"
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert _words_left(cleaned, regions, source) == []


def test_text_the_ocr_cannot_read_confidently_is_refused(
    batch: tuple[Path, dict[str, dict[str, object]]],
) -> None:
    out, records = batch
    record = records["blurred.dcm"]
    assert record["status"] == "refused"
    assert "cannot read confidently" in str(record["reason"])
    assert not (out / "blurred.dcm").exists()


def test_without_the_option_burned_in_kinds_are_refused() -> None:
    with pytest.raises(AnonymizationRefused, match="Clean Pixel Data option is not on"):
        Anonymizer(key=KEY).anonymize(_ultrasound(_render()[0]))


def test_a_mask_template_covers_what_the_ocr_is_not_asked_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ocr(frame: np.ndarray) -> list[ocr.Word]:
        raise AssertionError("the template says ocr: false")

    monkeypatch.setattr(ocr, "find_text", no_ocr)
    rule = PixelRule(manufacturer="acme", model="sono 3", rows=480, columns=640, rectangles=[(0, 0, 640, 40)])
    rule = rule.model_copy(update={"ocr": False})
    result = Anonymizer(["clean_pixel_data"], key=KEY, pixel_rules=[rule]).anonymize(
        _ultrasound(_render()[0])
    )
    assert result.masked == [[-1, 0, 0, 640, 40, "template"]]
    assert result.dataset.pixel_array[:40].max() == 0 and result.dataset.BurnedInAnnotation == "NO"


def test_real_secondary_capture_text_is_cleaned() -> None:
    path = str(pydicom.data.get_testdata_file("GDCMJ2K_TextGBR.dcm"))  # "red", "green", "blue" in colour
    source = pydicom.dcmread(path)
    result = Anonymizer(["clean_pixel_data"], key=KEY).anonymize(source)
    assert len(result.masked) == 3
    out = result.dataset
    buffer = BytesIO()
    out.save_as(buffer)
    again = pydicom.dcmread(BytesIO(buffer.getvalue()))
    assert again.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian and again.BurnedInAnnotation == "NO"
    assert _words_left(again.pixel_array, result.masked, source.pixel_array) == []  # type: ignore[arg-type]


def test_real_ultrasound_the_ocr_cannot_read_is_refused() -> None:
    path = str(pydicom.data.get_testdata_file("examples_rgb_color.dcm"))
    with pytest.raises(AnonymizationRefused, match="burned-in text"):
        Anonymizer(["clean_pixel_data"], key=KEY).anonymize(pydicom.dcmread(path))
