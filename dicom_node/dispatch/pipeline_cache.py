"""A pipeline's persistent cache ``context/cache/`` → ``<storage>/cache/<pipeline>/``.

The study context (:mod:`inference.study_context`) gives a pipeline a folder that outlives the job, one
per pipeline, where it keeps what it measured on a series (so a prior analysed once is not analysed
again). The node makes ``<job>/context/cache`` a relative symbolic link to ``<storage>/cache/<pipeline>/``
(created when missing), so a worker on another machine that mounts the shared storage elsewhere finds the
same folder. Jobs of the same pipeline running at once share it: pipelines write there atomically
(``write_atomically``: temporary file + rename), and each job links its own ``context/cache``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dicom_node.storage import Storage, safe_name
from inference.study_context import CACHE_DIR


def pipeline_cache_dir(storage: Storage, pipeline: str) -> Path:
    """The persistent cache folder of ``pipeline`` under the storage path."""
    return storage.root / CACHE_DIR / safe_name(pipeline)


def link_pipeline_cache(storage: Storage, pipeline: str, context_dir: Path) -> Path:
    """Create the pipeline's cache folder when missing and link it as ``context_dir/cache``; return the link.

    Whatever a former attempt of the job left at ``context_dir/cache`` is replaced (a link is removed, never
    followed: the cache itself is kept)."""
    folder = pipeline_cache_dir(storage, pipeline)
    folder.mkdir(parents=True, exist_ok=True)  # exist_ok: another job of the pipeline may create it too
    context_dir.mkdir(parents=True, exist_ok=True)
    link = context_dir / CACHE_DIR
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(os.path.relpath(folder, context_dir), target_is_directory=True)
    return link
