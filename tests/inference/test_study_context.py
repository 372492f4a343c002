"""The study context contract (inference/study_context.py): what a pipeline finds beside its series."""

from __future__ import annotations

import os
from pathlib import Path

from inference.study_context import FILE_MODE, StudyContext, write_atomically


def test_priors_newest_first_undated_last_and_foreign_folders_ignored(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    priors = tmp_path / "context" / "priors"
    for name in ("20200101_1.2.3", "20230505_1.2.4", "_1.2.5", "notes", "2021_x"):
        (priors / name).mkdir(parents=True)
    (tmp_path / "context" / "gsps.dcm").write_bytes(b"x")
    context = StudyContext.beside(tmp_path / "input")
    assert [(p.study_date, p.series_instance_uid) for p in context.priors()] == [
        ("20230505", "1.2.4"),
        ("20200101", "1.2.3"),
        ("", "1.2.5"),
    ]
    assert [p.name for p in context.objects()] == ["gsps.dcm"]
    assert context.cache_dir is None  # the node gave none: a pipeline then keeps nothing


def test_nothing_beside_a_bare_folder(tmp_path: Path) -> None:
    context = StudyContext.beside(tmp_path / "input")
    assert context.priors() == [] and context.objects() == [] and context.cache_dir is None


def test_a_cache_file_is_written_whole_and_readable_by_other_users(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "1.2.3.json"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.stat(target).st_mode & 0o777 == FILE_MODE
    assert [p.name for p in target.parent.iterdir()] == ["1.2.3.json"]  # no temporary file left
