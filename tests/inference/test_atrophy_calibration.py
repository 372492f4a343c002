"""Site calibration (``dicom-node calibrate atrophy``) on generated healthy controls.

Controls are drawn from the reference distributions themselves, with a known per-region site offset
(this "scanner" segments the frontal lobes 8 % small and the hippocampi 5 % large); the fit must recover
it, the file must round-trip, and with it the generated healthy controls must be flagged near the nominal
rate. Also the command line, on a features CSV (``--no-compute``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dicom_node.cli import main
from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import calibration, norms, reference
from inference.pipelines.atrophy.features import FEATURES_CSV, RegionalFeatures, write_features_csv
from inference.pipelines.atrophy.params import parse_params
from inference.pipelines.atrophy.regions import REGIONS

TRUE_OFFSET = {"frontal": math.log(0.92), "hippocampus": math.log(1.05)}


def _controls(n: int, seed: int) -> list[RegionalFeatures]:
    rng = np.random.default_rng(seed)
    controls = []
    for i in range(n):
        age, sex = float(rng.uniform(40, 85)), "F" if rng.random() < 0.5 else "M"
        icv = float(rng.normal(1600 if sex == "M" else 1450, 120))
        volumes = []
        for region in REGIONS:
            if region.structure == "hippocampus":
                model = norms.HIPPOCAMPUS_MODELS[(sex, region.side)]
                mean, sd = model.volume_mm3(age, icv * 1000), model.rmse
            else:
                mean, sd = reference.lobe_mean_sd(region.structure, age, sex)
            volume = rng.normal(mean, sd) * math.exp(TRUE_OFFSET.get(region.structure, 0.0)) / 1000
            volumes.append(volume)
        controls.append(RegionalFeatures(f"c{i:03d}", tuple(volumes), icv, round(age, 1), sex))
    return controls


@pytest.fixture(scope="module")
def fitted() -> calibration.Calibration:
    return calibration.fit(_controls(120, seed=1), "generated site")


def test_fit_recovers_the_site_offsets(fitted: calibration.Calibration) -> None:
    for region in REGIONS:
        found = fitted.offsets[calibration.region_key(region)]
        truth = TRUE_OFFSET.get(region.structure, 0.0)
        assert 0 < found.se < 0.03 and abs(found.log_offset - truth) < 4 * found.se, (region.name, found)
    assert fitted.n_controls == 120


def test_calibrated_flag_rate_on_new_controls_is_near_nominal(fitted: calibration.Calibration) -> None:
    new = _controls(150, seed=2)
    below = {True: 0, False: 0}
    for use in (True, False):
        for c in new:
            for j, region in enumerate(REGIONS):
                offset = fitted.offset(region) if use else 0.0
                assert c.age is not None and c.sex is not None
                e = reference.evaluate(
                    region.structure, region.side, c.volumes_ml[j], c.age, c.sex, c.icv_ml, offset
                )
                below[use] += e.centile < 2.5
    cells = len(new) * len(REGIONS)
    assert below[True] / cells < 0.05  # near the nominal 2.5 %
    assert below[False] > below[True]  # the uncalibrated frontal lobes of this "scanner" are flagged more


def test_file_round_trip_and_checks(fitted: calibration.Calibration, tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    calibration.write_calibration(fitted, path)
    params = parse_params({"calibration": str(path)})
    assert params.calibration is not None
    assert params.calibration.offset(REGIONS[0]) == pytest.approx(fitted.offset(REGIONS[0]), abs=1e-6)
    assert "generated site (cal.json), 120 controls" in params.calibration.description
    data = json.loads(path.read_text())
    data["offsets"]["left frontal"]["log_offset"] = 3.0
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"params\.calibration: .*left frontal: log_offset 3.0 outside"):
        parse_params({"calibration": str(path)})
    path.write_text("{}")
    with pytest.raises(ConfigError, match="not a calibration file"):
        parse_params({"calibration": str(path)})


def test_command_line_on_a_features_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_features_csv(tmp_path / FEATURES_CSV, _controls(30, seed=3))
    out = tmp_path / "site.json"
    assert (
        main(["calibrate", "atrophy", str(tmp_path), "--no-compute", "--out", str(out), "--name", "MR2"]) == 0
    )
    printed = capsys.readouterr().out
    assert "30 controls; calibration written to" in printed and "100 or more recommended" in printed
    assert calibration.load_calibration(out).name == "MR2"
    write_features_csv(tmp_path / FEATURES_CSV, _controls(5, seed=4))
    assert main(["calibrate", "atrophy", str(tmp_path), "--no-compute"]) == 2
    assert "at least 10 needed" in capsys.readouterr().err
