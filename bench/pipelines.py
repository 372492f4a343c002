"""Pipeline latency benchmarks: `bench/pipelines.py NAME [args...]` runs bench/pipelines_NAME.py.

Each pipeline's script times the whole path the node takes (read, model, writers) on CPU (or CUDA when
present) and prints its figures next to the issue's goal.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    available = sorted(p.stem.removeprefix("pipelines_") for p in HERE.glob("pipelines_*.py"))
    if len(sys.argv) < 2 or sys.argv[1] not in available:
        print(f"usage: bench/pipelines.py NAME [args...]   (NAME: {', '.join(available)})", file=sys.stderr)
        return 2
    module = importlib.import_module(f"pipelines_{sys.argv[1]}")
    if hasattr(module, "main"):
        return int(module.main(sys.argv[2:]))
    figures = module.run()
    for key, value in figures.items():
        print(f"{key:30} {value:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
