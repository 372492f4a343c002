"""The rds pipeline's fast path: one-decode reader, Grad-CAM built once, thread setting, upsampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference.pipelines.rds.bundle_io import load_model
from inference.pipelines.rds.images import resize, upsample
from inference.pipelines.rds.model import torch_threads
from inference.pipelines.rds.phantom import make_case
from inference.pipelines.rds.phantom_dicom import write_phantom_cr
from inference.pipelines.rds.pipeline import radiograph
from inference.pipelines.rds.source import DenseBrightSeries, read_radiograph
from inference.series_reader import read_series


@pytest.mark.parametrize("monochrome1", [True, False], ids=["monochrome1", "monochrome2"])
def test_reader_gives_the_volume_loaders_pixels_and_spacing(tmp_path: Path, monochrome1: bool) -> None:
    case = make_case(np.random.default_rng(3), 300, rds=True)
    source = write_phantom_cr(tmp_path / "cr" / "cr.dcm", case, spacing_mm=0.3, monochrome1=monochrome1)
    fast, generic = read_radiograph(source.parent), read_series(source.parent)
    assert isinstance(fast, DenseBrightSeries) and generic.volume is not None
    assert fast.pixels.dtype == np.float32 and fast.pixels.shape == generic.pixels.shape
    np.testing.assert_array_equal(fast.pixels, generic.pixels)
    assert fast.spacing_mm == pytest.approx(generic.spacing_mm)
    # dense = bright either way: the phantom's own picture (MONOCHROME2 sense) comes back, not its negative
    image = radiograph(fast)
    assert np.array_equal(image, radiograph(generic))
    assert np.corrcoef(image.ravel(), case.image.ravel())[0, 1] > 0.99


def test_reader_hands_anything_but_one_grey_image_to_the_generic_reader(tmp_path: Path) -> None:
    from tests.inference.pipeline_series import write_slices

    write_slices(tmp_path / "ct", frames=3)
    series = read_radiograph(tmp_path / "ct")
    assert not isinstance(series, DenseBrightSeries) and len(series.frames) == 3


def test_grad_cam_is_built_once_and_its_logit_is_the_probability() -> None:
    model, _ = load_model(None, "cpu")
    rng = np.random.default_rng(0)
    size = model.settings.working_size
    images = [rng.random((size, size)).astype(np.float32) for _ in range(3)]
    results = [model.classify(image) for image in images]
    head = dict(model.classifier.named_modules())["_conv_head"]
    assert len(head._forward_hooks) == 1 and len(head._backward_hooks) == 1  # not one pair per image
    for image, result in zip(images, results, strict=True):
        assert result.probability == pytest.approx(model.probability(image), abs=1e-5)
        assert result.heat_map.shape == (size, size) and 0.0 <= result.heat_map.min() <= result.heat_map.max()


def test_torch_threads_sets_and_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):
        assert torch.get_num_threads() == before


def test_upsample_matches_pil_bilinear() -> None:
    small = np.random.default_rng(1).random((16, 16)).astype(np.float32)
    for shape in ((300, 300), (250, 170)):
        expected = resize(small, shape)
        picture = np.asarray(Image.fromarray(small, mode="F").resize(shape[::-1], Image.Resampling.BILINEAR))
        assert np.array_equal(expected, picture)
        np.testing.assert_allclose(upsample(small, shape), expected, atol=1e-5)
