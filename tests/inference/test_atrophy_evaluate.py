"""``evaluate atrophy`` scores the norm-based regional findings (what the SR says) with confidence intervals.

On a generated data set whose atrophic regions are 20 % smaller than the reference median: the SR's
"below the expected range" must find many of them and almost never flag a region annotated healthy;
the Wilson intervals must contain the point estimate.
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from dicom_node.cli import main
from inference.pipelines.atrophy import synthetic
from inference.pipelines.atrophy.metrics import wilson
from inference.pipelines.atrophy.regions import REGIONS

ROW = re.compile(
    r"^(?P<name>.+?)\s+\d+/\d+\s+(?P<n>\d+)\s+(?P<pos>\d+)\s+"
    r"(?P<acc>[\d.]+)% \(\s*(?P<lo>[\d.]+)-\s*(?P<hi>[\d.]+)\)"
    r"\s+(?P<sens>[\d.]+|n/a)%?.*?\s(?P<spec>[\d.]+)% \(",
    re.MULTILINE,
)


def test_norm_based_findings_are_scored_with_intervals(tmp_path: Path) -> None:
    synthetic.write_dataset(tmp_path, per_class=30, seed=7)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["evaluate", "atrophy", str(tmp_path), "--no-compute"])
    text = out.getvalue()
    assert code == 0 and "Norm-based regional findings, as in the SR (90 subjects assessed" in text
    rows = {m["name"]: m for m in ROW.finditer(text)}
    assert set(rows) == {r.name for r in REGIONS}, text
    for row in rows.values():
        assert float(row["lo"]) <= float(row["acc"]) <= float(row["hi"])
        assert float(row["spec"]) > 90.0  # healthy regions (5 % noise) are rarely below the 2.5th centile
    hippocampus = rows["Left hippocampus"]
    assert int(hippocampus["pos"]) > 20 and float(hippocampus["sens"]) > 40.0  # a 20 % loss is often found
    assert "Trained head: not evaluated (no --bundle)" in text


def test_wilson_interval() -> None:
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12) and wilson(10, 10)[1] == pytest.approx(1.0)
