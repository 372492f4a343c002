"""Completeness confirmed by query: ask the sending archive how many instances a series has.

For series whose calling AE is an archive destination with ``query.confirm_completion`` (its
``ae_title`` or one of its ``source_aets``), the quiet period alone does not complete the series. Once
the series has been quiet for ``query.confirm_after_s``, the node asks the archive (C-FIND at series
level: Number of Series Related Instances, or an instance-level count) and

- completes it when it holds as many instances as the archive (``count-matched``; before the quiet
  period: ``count-matched-early``);
- keeps waiting while instances are missing, asking again every ``confirm_interval_s``, for at most
  ``confirm_max_wait_s`` after the quiet period (then ``query-wait-exceeded``, with what arrived);
- falls back to the quiet period when the archive cannot be asked (``query-failed``, with the archive's
  answer in the timeline) or does not know the series (``not-in-archive``).

Queries run in their own thread, one series at a time: a slow or failing archive delays only its own
series, never the completion or routing of the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dicom_node.config import Config, DestinationConfig
from dicom_node.config_query import QueryConfig
from dicom_node.ledger import Ledger, SeriesRecord
from dicom_node.logsetup import get_logger
from dicom_node.query import QueryError, QueryRetrieve, query_retrieve, series_instance_count

log = get_logger("dicom_node.series.confirm")


def confirming_archives(config: Config) -> dict[str, str]:
    """Calling AE title -> name of the archive destination that confirms its series' completeness."""
    archives: dict[str, str] = {}
    for name, destination in config.destinations.items():
        settings = getattr(destination, "query", None)
        if (
            isinstance(destination, DestinationConfig)
            and settings is not None
            and settings.confirm_completion
        ):
            for ae in (destination.ae_title, *destination.source_aets):
                archives.setdefault(ae, name)
    return archives


class Confirmer:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        on_complete: Callable[[], None] = lambda: None,
        clients: Callable[[str], QueryRetrieve] | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.on_complete = on_complete
        self.archives = confirming_archives(config)
        self._clients = clients or (
            lambda name: query_retrieve(config.destinations[name], config.node.ae_title)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def calling_aes(self) -> list[str]:
        return sorted(self.archives)

    def _settings(self, name: str) -> QueryConfig:
        settings = getattr(self.config.destinations[name], "query", None)
        assert isinstance(settings, QueryConfig)
        return settings

    # -- the loop ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.archives:
            self._thread = threading.Thread(target=self._loop, name="completion-queries", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    self.on_complete()
            except Exception as exc:  # keep asking; the ledger may be briefly unavailable
                log.error("completion_query_error", error=str(exc), exc_info=True)
            self._stop.wait(self.config.series.check_interval_s)

    def run_once(self, now: float | None = None) -> int:
        """Ask about every due series; return how many were completed."""
        shortest = min(self._settings(n).confirm_after_s for n in set(self.archives.values()))
        completed = 0
        for row in self.ledger.series_to_confirm(
            self.calling_aes, shortest, time.time() if now is None else now
        ):
            name = self.archives[row.calling_ae]
            completed += self.confirm(row, name, now)
        return completed

    # -- one series -------------------------------------------------------------------------------
    def confirm(self, row: SeriesRecord, name: str, now: float | None = None) -> bool:
        settings = self._settings(name)
        start = time.time() if now is None else now
        quiet = start - row.last_received_at
        if quiet < settings.confirm_after_s:
            return False
        error: str | None = None
        count: int | None = None
        try:
            count = series_instance_count(
                self._clients(name), row.study_instance_uid, row.series_instance_uid
            )
        except QueryError as exc:
            error = str(exc)
        except Exception as exc:  # an unexpected answer is a failed query of this series only
            error = f"{type(exc).__name__}: {exc}"
        now = time.time() if now is None else now
        have = row.instance_count
        quiet_s = self.config.series.complete_after_s
        past_quiet = quiet >= quiet_s

        def complete(reason: str, message: str) -> bool:
            done = self.ledger.complete_confirmed(
                row.id, row.last_received_at, reason, message, count, now=now
            )
            if done:
                log.info("series_confirmed", series_id=row.id, reason=reason, archive=name, have=have)
            return done

        def wait(message: str | None) -> bool:
            self.ledger.record_completion_query(row.id, count, now + settings.confirm_interval_s, message)
            return False

        if error is not None:
            if past_quiet:
                return complete("query-failed", f"quiet period; {name} could not be asked: {error}")
            return wait(f"{name} could not be asked ({error}); asking again")
        if count is None:
            if past_quiet:
                return complete("not-in-archive", f"quiet period; {name} does not know the series")
            return wait(None)
        if have >= count:
            reason = "count-matched" if past_quiet else "count-matched-early"
            return complete(reason, f"{name} holds {count} instances, {have} received")
        if quiet >= quiet_s + settings.confirm_max_wait_s:
            return complete(
                "query-wait-exceeded",
                f"{name} holds {count} instances, only {have} received after waiting "
                f"{settings.confirm_max_wait_s:g} s past the quiet period",
            )
        changed = row.archive_count != count or not row.completion_queries
        return wait(f"{name} holds {count} instances, {have} received: waiting" if changed else None)
