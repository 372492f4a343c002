"""Child processes of the node end when the node dies, even by kill -9 (no orphan keeps working)."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(
    parent: int | None = None, poll_s: float = 1.0, code: int = 70
) -> None:  # pragma: no cover - child side
    """Start a daemon thread that ends this process (``os._exit``) once its parent is gone.

    A pipeline child must not finish an old run behind a restarted node's back; an extra receiver must
    not keep accepting on the node's socket without the process that schedules what it receives.
    ``parent``: the pid the parent had when it started us; pass it when the parent may die while we
    start up (we would already be someone else's child, and would watch the wrong process).
    """
    if parent is None:
        parent = os.getppid()
    elif os.getppid() != parent:
        os._exit(code)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(code)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
