"""Prometheus ``/metrics``: derived from the ledger at scrape time (no counters inside the node).

Counters come from durable tables, so they survive restarts and agree across processes sharing a ledger:
instances/bytes by calling AE from ``instances``, send attempts/failures by destination from
``deliveries``, pipeline durations from the job state events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dicom_node.ledger import queries
from dicom_node.web.context import WebParts

PREFIX = "dicom_node"
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def histogram_buckets(
    values: list[float], bounds: tuple[float, ...]
) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs ending with +Inf, and the sum of the values."""
    buckets = [(str(bound), float(sum(1 for v in values if v <= bound))) for bound in bounds]
    buckets.append(("+Inf", float(len(values))))
    return buckets, float(sum(values))


class LedgerCollector(Collector):
    def __init__(self, parts: WebParts) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        ledger = self.parts.ledger
        received = CounterMetricFamily(
            f"{PREFIX}_instances_received",
            "Instances received (C-STORE), by calling AE",
            labels=["calling_ae"],
        )
        received_bytes = CounterMetricFamily(
            f"{PREFIX}_received_bytes",
            "Bytes stored from received instances, by calling AE",
            labels=["calling_ae"],
        )
        for row in queries.received_by_calling_ae(ledger):
            received.add_metric([row["calling_ae"]], float(row["instances"]))
            received_bytes.add_metric([row["calling_ae"]], float(row["bytes"]))
        yield received
        yield received_bytes

        yield GaugeMetricFamily(
            f"{PREFIX}_active_associations",
            "DICOM associations open now",
            value=float(self.parts.active_associations()),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_series_completed",
            "Series revisions completed",
            value=float(queries.series_completed(ledger)),
        )
        completion = ledger.completion_stats()
        completion_queries = float(completion.pop("queries"))
        yield CounterMetricFamily(
            f"{PREFIX}_completion_queries",
            "C-FIND queries asking a sending archive how many instances a series has",
            value=completion_queries,
        )
        made = CounterMetricFamily(
            f"{PREFIX}_queries",
            "C-FIND queries to archives: completion (a series' instance count), priors (study, series)",
            labels=["purpose"],
        )
        made.add_metric(["completion"], completion_queries)
        made.add_metric(["priors"], float(completion.pop("priors_queries")))
        yield made
        priors = CounterMetricFamily(
            f"{PREFIX}_priors",
            "Prior series given to jobs: retrieved from the archive, or held from an earlier job",
            labels=["how"],
        )
        priors.add_metric(["retrieved"], float(completion.pop("priors_retrieved")))
        priors.add_metric(["held"], float(completion.pop("priors_held")))
        yield priors
        by_reason = CounterMetricFamily(
            f"{PREFIX}_series_completed_by_reason",
            "Series revisions by how they were judged complete (count-matched-early: early completions)",
            labels=["reason"],
        )
        for key, n in sorted(completion.items()):
            by_reason.add_metric([key.removeprefix("completed_")], float(n))
        yield by_reason
        series = GaugeMetricFamily(f"{PREFIX}_series", "Series revisions by state", labels=["state"])
        for state, n in sorted(queries.series_by_state(ledger).items()):
            series.add_metric([state], float(n))
        yield series

        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs", "Jobs by pipeline (or forward/discard) and state", labels=["pipeline", "state"]
        )
        for row in queries.jobs_by_pipeline_and_state(ledger):
            jobs.add_metric([row["pipeline"] or "", row["state"]], float(row["n"]))
        yield jobs

        durations: dict[str, list[float]] = defaultdict(list)
        for pipeline, seconds in queries.pipeline_durations(ledger):
            durations[pipeline].append(seconds)
        histogram = HistogramMetricFamily(
            f"{PREFIX}_pipeline_duration_seconds",
            "Time from a pipeline job starting to run until it produced its outputs or failed",
            labels=["pipeline"],
        )
        for pipeline, values in sorted(durations.items()):
            buckets, total = histogram_buckets(values, DURATION_BUCKETS)
            histogram.add_metric([pipeline], buckets, total)
        yield histogram

        attempts = CounterMetricFamily(
            f"{PREFIX}_send_attempts", "C-STORE attempts of result/forward objects", labels=["destination"]
        )
        failures = CounterMetricFamily(
            f"{PREFIX}_send_failures", "C-STORE attempts not accepted", labels=["destination"]
        )
        delivered = CounterMetricFamily(
            f"{PREFIX}_objects_delivered", "Objects accepted by the destination", labels=["destination"]
        )
        committed = CounterMetricFamily(
            f"{PREFIX}_objects_committed",
            "Objects the destination committed to keep (storage commitment reports)",
            labels=["destination"],
        )
        for name, stats in sorted(queries.delivery_stats(ledger).items()):
            attempts.add_metric([name], float(stats["attempts"]))
            failures.add_metric([name], float(stats["failures"]))
            delivered.add_metric([name], float(stats["delivered"]))
            committed.add_metric([name], float(stats["committed"]))
        yield attempts
        yield failures
        yield delivered
        yield committed
        rounds = CounterMetricFamily(
            f"{PREFIX}_send_rounds_failed",
            "Delivery rounds that did not complete (objects refused, or no association at all)",
            labels=["destination"],
        )
        names = sorted(self.parts.config.destinations)
        for name, n in sorted(queries.failed_delivery_rounds(ledger, names).items()):
            rounds.add_metric([name], float(n))
        yield rounds

        queue = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Unfinished work: jobs by state, series not yet routed", labels=["state"]
        )
        for state, n in sorted(queries.queue_depth(ledger).items()):
            queue.add_metric([state], float(n))
        yield queue

        yield GaugeMetricFamily(
            f"{PREFIX}_storage_free_bytes",
            "Free bytes on the file system of the storage path",
            value=float(self.parts.storage.free_bytes()),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_storage_min_free_bytes",
            "Free-space floor below which new associations are refused",
            value=float(self.parts.storage.min_free_bytes),
        )


def registry_for(parts: WebParts) -> CollectorRegistry:
    """A registry of its own per app (never the global one: several apps may live in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(parts))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
