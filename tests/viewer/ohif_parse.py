"""Run our copy of the ohif-check parser (node + OHIF 3.13.2's own dcmjs / Cornerstone adapters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PARSER = Path(__file__).resolve().parent / "ohif" / "ohif_parse.mjs"
NODE_MODULES = REPO / ".ohif" / "node" / "node_modules"


def missing() -> str | None:
    """Why the parser cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed (Debian nodejs; `make ohif` installs it)"
    if not (NODE_MODULES / "@cornerstonejs" / "adapters" / "package.json").exists():
        return f"OHIF's npm libraries are not in {NODE_MODULES} (run `make ohif`)"
    return None


def parse(*paths: Path) -> dict[str, Any]:
    """The parser's JSON report on these files/folders (sources and outputs together)."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    done = subprocess.run(
        ["node", str(PARSER), "--json", *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode not in (0, 1, 3):
        raise RuntimeError(f"ohif_parse.mjs exited {done.returncode}: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report
