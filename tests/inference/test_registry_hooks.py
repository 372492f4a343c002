"""The registry's hooks ("module:function" strings, resolved lazily) name functions that exist, and the
demo input the node asks for through the registry is a valid series for its pipeline."""

from __future__ import annotations

import importlib
from pathlib import Path

import pydicom
import pytest

from dicom_node.errors import InputError
from inference import registry


@pytest.mark.parametrize("name", registry.names())
def test_every_hook_names_a_function(name: str) -> None:
    info = registry.info(name)
    for hook in (info.check_params, info.demo_input):  # target is imported when the pipeline is built
        if hook is None:
            continue
        module_name, _, func = hook.partition(":")
        assert callable(getattr(importlib.import_module(module_name), func)), hook


def test_the_rds_demo_input_is_a_neonatal_chest_radiograph(tmp_path: Path) -> None:
    files = registry.write_demo_input("rds", tmp_path / "cr")
    assert [f.parent for f in files] == [tmp_path / "cr"]
    ds = pydicom.dcmread(files[0])
    # what the demo's rule for rds matches (dicom_node/demo/flow.py: neonatal-cxr)
    assert (ds.Modality, ds.BodyPartExamined) == ("CR", "CHEST")
    assert ds.pixel_array.shape == (512, 512)


def test_a_pipeline_without_demo_input_says_so(tmp_path: Path) -> None:
    without = [name for name in registry.names() if registry.info(name).demo_input is None]
    assert without
    with pytest.raises(InputError, match="no demonstration input"):
        registry.write_demo_input(without[0], tmp_path)
