"""The Prometheus exporter's metric objects (reference: docs/reference/metrics.md).

Own CollectorRegistry (never the global one, see FAUST_NOTES); label values are bounded: brands
not in the brand configuration are folded into brand="_unconfigured", platforms not in
MENTIONWATCH_PLATFORMS into platform="_other" (a producer inventing platforms or brands adds no
series).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from agents.config import DEFAULT_PLATFORMS

# Counters' _created series double the series count and no rule or panel reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

UNCONFIGURED = "_unconfigured"
OTHER_PLATFORM = "_other"
FIRST_RESPONSE_BUCKETS = (
    60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 345600, 604800,
)
DEAD_LETTER_REASONS = (
    "not_json", "schema_violation", "unknown_schema_version", "too_large", "unroutable",
    "processing_error", "future_dated",
)


def build_labels() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {"version": installed("mentionwatch"), "python": platform.python_version(),
            "faust": installed("faust-streaming")}


class Metrics:
    def __init__(self, configured_brands: Iterable[str],
                 platforms: Iterable[str] = DEFAULT_PLATFORMS,
                 public_url: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.brands = frozenset(configured_brands)
        self.platforms = frozenset(platforms)
        self._mention_counters: dict[tuple[str, str, str], Counter] = {}
        r = self.registry
        bp = ["brand", "platform"]
        self.mentions = Counter("mentionwatch_mentions", "Mentions enriched.",
                                [*bp, "sentiment"], registry=r)
        self.complaints = Counter("mentionwatch_complaints", "Complaints opened (inbound, "
                                  "classified as complaint).", bp, registry=r)
        self.answered = Counter("mentionwatch_complaints_answered",
                                "Complaints answered within the ignore deadline.", bp, registry=r)
        self.answered_within_sla = Counter(
            "mentionwatch_complaints_answered_within_sla",
            "Complaints answered with a business-time age at most the brand's SLA (a subset of "
            "answered).", bp, registry=r)
        self.answered_late = Counter("mentionwatch_complaints_answered_late",
                                     "Ignored complaints answered after the deadline.", bp,
                                     registry=r)
        self.ignored = Counter("mentionwatch_complaints_ignored",
                               "Complaints unanswered past the ignore deadline.", bp, registry=r)
        self.corrections = Counter(
            "mentionwatch_complaint_corrections",
            "Announced transitions retracted because a late record proved them wrong (e.g. an "
            "'ignored' whose answer arrived after the clock passed the deadline).",
            [*bp, "retracted"], registry=r)
        self.dead_letters = Counter("mentionwatch_dead_letters",
                                    "Records sent to the dead-letter topic.", ["reason"],
                                    registry=r)
        self.first_response = Histogram(
            "mentionwatch_first_response_seconds",
            "First response time of answered complaints (late answers included).", bp,
            buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        # Gauges derived from the tracking state (open, overdue, oldest open, share window,
        # consumer lag) are produced at scrape time by agents.tracking.StateCollector.
        self.sla = Gauge("mentionwatch_brand_sla_seconds", "The brand's configured SLA.",
                         ["brand"], registry=r)
        self.ignore_after = Gauge("mentionwatch_brand_ignore_after_seconds",
                                  "The brand's configured ignore deadline.", ["brand"],
                                  registry=r)
        self.last_processed = Gauge(
            "mentionwatch_last_processed_timestamp_seconds",
            "Wall-clock time this worker last processed a record.", registry=r)
        self.offset_gaps = Counter(
            "mentionwatch_offset_gaps",
            "Times faust handed an agent a record past ones it never delivered (the agent then "
            "read and processed the skipped ones itself; see agents/offsets.py).", ["agent"],
            registry=r)
        self.gap_records = Counter(
            "mentionwatch_offset_gap_records",
            "Records faust skipped that the agent read and processed itself.", ["agent"],
            registry=r)
        self.gap_records_unread = Counter(
            "mentionwatch_offset_gap_records_unread",
            "Skipped records the agent could not read back in time (they are processed after "
            "the next restart, when the group starts at the gap again).", ["agent"], registry=r)
        self.resent_events = Counter(
            "mentionwatch_events_resent",
            "Transitions sent to complaints.events again after a restart or rebalance because "
            "no producer flush had confirmed them (same event_id: consumers drop repeats).",
            registry=r)
        self.build_info = Gauge("mentionwatch_build_info", "Always 1; the labels say what runs.",
                                ["version", "python", "faust"], registry=r)
        self.build_info.labels(**build_labels()).set(1)
        if public_url is not None:
            # The dashboard finds the care team's queue here (MENTIONWATCH_PUBLIC_URL).
            Gauge("mentionwatch_public_url_info",
                  "Always 1; url is where people reach this worker's web server (the queue).",
                  ["url"], registry=r).labels(url=public_url).set(1)
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes
        PlatformCollector(registry=r)
        self.processed = Counter("mentionwatch_records_processed",
                                 "Records processed, by agent.", ["agent"], registry=r)
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason=reason)

    def short_reread_recorder(self, agent: str) -> Callable[[int], None]:
        """For GapGuard: count skipped records it could not read back."""
        unread = self.gap_records_unread.labels(agent=agent)
        return unread.inc

    def gap_recorder(self, agent: str) -> Callable[[int], None]:
        """For GapGuard: count a gap and the records read to fill it."""
        gaps = self.offset_gaps.labels(agent=agent)
        records = self.gap_records.labels(agent=agent)

        def on_gap(n_records: int) -> None:
            gaps.inc()
            records.inc(n_records)

        return on_gap

    def brand_label(self, brand: str) -> str:
        return brand if brand in self.brands else UNCONFIGURED

    def platform_label(self, platform: str) -> str:
        return platform if platform in self.platforms else OTHER_PLATFORM

    def mention_counter(self, brand: str, platform: str, sentiment: str) -> Counter:
        """mentionwatch_mentions_total's child for a mention (label values bounded). Cached by
        its label values, so the cache is no bigger than the metric."""
        labels = (self.brand_label(brand), self.platform_label(platform), sentiment)
        counter = self._mention_counters.get(labels)
        if counter is None:
            counter = self._mention_counters[labels] = self.mentions.labels(*labels)
        return counter
