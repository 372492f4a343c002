"""Parts of the dermatitis pipeline: generator, photograph decoding, tiling, aggregation, ROI, data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicom_node.errors import InputError
from inference.pipelines.dermatitis import dataset, photo, roi, synthetic, tiling
from inference.pipelines.dermatitis.samples import photograph_dataset, write_photograph


def _redness(image: np.ndarray) -> float:
    return float((image[..., 0].astype(float) - image[..., 1]).mean())


def test_generator_levels_are_monotonic() -> None:
    rng = np.random.default_rng(3)
    redness = [np.mean([_redness(synthetic.patch((e, 0, 0), rng)) for _ in range(8)]) for e in range(4)]
    assert redness == sorted(redness) and redness[3] - redness[0] > 40
    crust = [
        np.mean([(synthetic.patch((0, x, 0), rng)[..., 1] < 80).mean() for _ in range(8)]) for x in range(4)
    ]
    assert crust[0] == 0 and crust == sorted(crust)
    texture = [
        np.mean([synthetic.patch((0, 0, k), rng).std(axis=(0, 1)).mean() for _ in range(8)]) for k in range(4)
    ]
    assert texture == sorted(texture)


def test_patches_are_balanced_per_sign() -> None:
    images, labels = synthetic.patches(40, seed=1, size=32)
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
    for column in range(3):
        assert np.bincount(labels[:, column], minlength=4).tolist() == [10, 10, 10, 10]


@pytest.mark.parametrize("jpeg", [True, False])
def test_photograph_rgb_decodes_rgb_and_jpeg_ybr(tmp_path: Path, jpeg: bool) -> None:
    truth = synthetic.photograph(np.ones((3, 4, 3), int), 256, 192, seed=2).pixels
    path = write_photograph(tmp_path, truth, jpeg=jpeg)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == ("YBR_FULL_422" if jpeg else "RGB")
    rgb = photo.photograph_rgb(ds)
    assert rgb.shape == truth.shape and rgb.dtype == np.uint8
    error = np.abs(rgb.astype(int) - truth).mean()
    assert error < 4 if jpeg else error == 0


def test_photograph_rgb_refuses_what_is_not_a_photograph() -> None:
    ds = photograph_dataset(np.zeros((8, 8, 3), np.uint8), jpeg=False)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    with pytest.raises(InputError, match="not a photograph"):
        photo.photograph_rgb(ds)


def test_skin_mask_separates_skin_from_drape() -> None:
    picture = synthetic.photograph(np.full((3, 4, 3), 2), 256, 192, seed=1)
    mask = photo.skin_mask(picture.pixels)
    assert mask[96, 128] and not mask[2, 2]
    assert 0.3 < mask.mean() < 0.7


def test_grid_covers_the_photo_centred() -> None:
    grid = tiling.grid_for(3000, 4000, 6)
    assert (grid.rows, grid.cols, grid.tile, grid.top, grid.left) == (6, 8, 500, 0, 0)
    odd = tiling.grid_for(1000, 1530, 4)
    assert odd.tile == 250 and odd.cols == 6 and odd.left == (1530 - 6 * 250) // 2
    assert odd.box(1, 2) == (odd.left + 500, 250, odd.left + 750, 500)


def test_tiles_follow_row_major_order() -> None:
    grid = tiling.Grid(rows=2, cols=3, tile=4, top=0, left=0)
    reduced = np.zeros((2 * 4, 3 * 4, 3), np.uint8)
    for r in range(2):
        for c in range(3):
            reduced[r * 4 : (r + 1) * 4, c * 4 : (c + 1) * 4] = r * 3 + c
    crops = tiling.tiles(reduced, grid, 4)
    assert [int(crop[0, 0, 0]) for crop in crops] == list(range(6))


def test_aggregate_worst_and_area_weighted() -> None:
    probabilities = np.zeros((1, 3, 3, 4))
    levels = np.array([[[0, 1, 2], [3, 1, 0], [2, 2, 2]]])  # (rows, cols, signs)
    for c in range(3):
        for s in range(3):
            probabilities[0, c, s, levels[0, c, s]] = 0.7
            probabilities[0, c, s, (levels[0, c, s] + 1) % 4] = 0.3
    weights = np.array([[1.0, 0.5, 0.0]])  # the last tile is outside the region
    grades = tiling.aggregate(probabilities, weights)
    assert [g.worst for g in grades] == [3, 1, 2]
    assert grades[0].worst_tile == (0, 1) and grades[0].probability == pytest.approx(0.7)
    for index, grade in enumerate(grades):
        expected = (levels[0, 0, index] * 1.0 + levels[0, 1, index] * 0.5) / 1.5
        assert grade.area_weighted == pytest.approx(expected)
    empty = tiling.aggregate(probabilities, np.zeros((1, 3)))
    assert all(g.worst == 0 and g.worst_tile is None for g in empty)


def _gsps(photo_ds: Dataset, graphics: list[Dataset]) -> Dataset:
    ds = Dataset()
    ds.Modality = "PR"
    ds.SOPInstanceUID = generate_uid()
    image = Dataset()
    image.ReferencedSOPClassUID = photo_ds.SOPClassUID
    image.ReferencedSOPInstanceUID = photo_ds.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = photo_ds.SeriesInstanceUID
    series.ReferencedImageSequence = [image]
    ds.ReferencedSeriesSequence = [series]
    annotation = Dataset()
    annotation.GraphicLayer = "ROI"
    annotation.GraphicObjectSequence = graphics
    ds.GraphicAnnotationSequence = [annotation]
    return ds


def _graphic(kind: str, points: list[float]) -> Dataset:
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = "PIXEL"
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = len(points) // 2
    graphic.GraphicData = points
    graphic.GraphicType = kind
    graphic.GraphicFilled = "Y"
    return graphic


def test_roi_from_gsps_polyline_and_circle() -> None:
    source = photograph_dataset(np.zeros((100, 200, 3), np.uint8), jpeg=False)
    square = _graphic("POLYLINE", [10, 10, 60, 10, 60, 50, 10, 50, 10, 10])
    circle = _graphic("CIRCLE", [150, 50, 170, 50])
    found = roi.roi_from([_gsps(source, [square, circle])], source)
    assert found is not None and found.source == "GSPS"
    assert found.mask[30, 30] and found.mask[50, 150] and not found.mask[90, 100]
    assert abs(int(found.mask[:, 100:].sum()) - np.pi * 20**2) < 100
    other = photograph_dataset(np.zeros((100, 200, 3), np.uint8), jpeg=False)
    assert roi.roi_from([_gsps(other, [square])], source) is None


def test_roi_from_seg_of_the_photo() -> None:
    source = photograph_dataset(np.zeros((20, 30, 3), np.uint8), jpeg=False)
    seg = Dataset()
    seg.Modality = "SEG"
    seg.Rows, seg.Columns = 20, 30
    ref = Dataset()
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    series = Dataset()
    series.ReferencedInstanceSequence = [ref]
    seg.ReferencedSeriesSequence = [series]
    frames = np.zeros((1, 20, 30), np.uint8)
    frames[0, 5:10, 5:20] = 1
    seg.NumberOfFrames = 1
    seg.SamplesPerPixel = 1
    seg.PhotometricInterpretation = "MONOCHROME2"
    seg.BitsAllocated = 8
    seg.BitsStored = 8
    seg.HighBit = 7
    seg.PixelRepresentation = 0
    seg.PixelData = frames.tobytes()
    seg.file_meta = pydicom.dataset.FileMetaDataset()
    seg.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    result = roi.roi_from([seg], source)
    assert result is not None and result.source == "SEG"
    assert int(result.mask.sum()) == 5 * 15


def test_dataset_csv_folders_and_split(tmp_path: Path) -> None:
    csv_path = dataset.write_synthetic(tmp_path / "csv", 20, seed=0, size=16)
    items = dataset.read_items(csv_path.parent)
    assert len(items) == 20 and all(min(i.labels) >= 0 for i in items)
    train, test = dataset.split(items, seed=4)
    assert (len(train), len(test)) == (14, 6)
    assert {i.path for i in train}.isdisjoint({i.path for i in test})
    assert dataset.split(items, seed=4) == (train, test)
    folder = tmp_path / "folders" / "excoriation" / "2"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(items[0].path.read_bytes())
    read = dataset.read_items(tmp_path / "folders")
    assert [i.labels for i in read] == [(dataset.UNKNOWN, 2, dataset.UNKNOWN)]
    images, labels = dataset.load_images(read, 8)
    assert images.shape == (1, 8, 8, 3) and labels.tolist() == [[-1, 2, -1]]
    bad = tmp_path / "bad.csv"
    bad.write_text("image,erythema,excoriation,lichenification\nimages/x.png,5,,\n")
    with pytest.raises(InputError, match="severity"):
        dataset.read_items(bad)
