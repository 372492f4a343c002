"""DCMTK ``storescp`` that takes its time over every C-STORE (``--sleep-during``), to land faults mid-send."""

from __future__ import annotations

import subprocess

from tests.support.dcmtk import StoreSCP, tool
from tests.support.ports import port_open, wait_for


class SlowStoreSCP(StoreSCP):
    """A :class:`StoreSCP` whose ``start`` can make each C-STORE take ``sleep_during_s`` seconds.

    It can be stopped and started again on the same port and log (slow first, fast after a fault), so
    :meth:`StoreSCP.stored_counts` counts every reception over both lives.
    """

    def start_slow(self, sleep_during_s: int) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self._process = subprocess.Popen(
            [
                tool("storescp"),
                "-v",
                "--sleep-during",
                str(sleep_during_s),
                "-aet",
                self.ae_title,
                "-od",
                str(self.out),
                str(self.port),
            ],
            stdout=log,
            stderr=log,
        )
        wait_for(lambda: port_open(self.port), timeout=30, what="storescp to listen")

    def files_per_uid(self) -> dict[str, int]:
        """SOP Instance UID → files in the output folder (storescp names them MODALITY.UID)."""
        counts: dict[str, int] = {}
        for path in self.out.iterdir() if self.out.exists() else []:
            if path.is_file():
                uid = path.name.split(".", 1)[1]
                counts[uid] = counts.get(uid, 0) + 1
        return counts
