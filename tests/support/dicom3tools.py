"""dciodvfy (dicom3tools) as the conformance judge."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Verdict:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output: str = ""


def dciodvfy(path: Path) -> Verdict:
    """Run ``dciodvfy`` on one file and split its report into errors and warnings."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        raise RuntimeError("dciodvfy (Debian package dicom3tools) is not installed; run `make system-deps`")
    proc = subprocess.run([exe, "-new", str(path)], capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    verdict = Verdict(output=text)
    for line in text.splitlines():
        if line.startswith("Error"):
            verdict.errors.append(line)
        elif line.startswith("Warning"):
            verdict.warnings.append(line)
    return verdict
