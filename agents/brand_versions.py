"""The brand configuration the workers ran with, recorded on the compacted configuration topic
(brand_config.v1), and read back by replay (streams/brand_versions.py says which version judges
which mention).

A worker records its configuration at start unless it is already the latest recorded version;
the record carries the brands file's text, so an audit needs no copy of the file."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.config import ConfigError, Settings
from schemas.codec import (
    DecodeError,
    RecordedBrandConfig,
    decode_brand_config,
    encode_brand_config,
)
from streams.brand_versions import (
    ConfigTimeline,
    ConfigVersion,
    needs_recording,
    ordered_versions,
)
from streams.brands import (
    BrandConfig,
    BrandConfigError,
    brand_config_sha256,
    default_brand_config,
    parse_brand_config,
)

log = logging.getLogger("mentionwatch")

BUILT_IN_DEFAULT = "built-in default"
READ_TIMEOUT_S = 15.0
SEND_TIMEOUT_S = 30.0


def mentionwatch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mentionwatch")
    except PackageNotFoundError:
        return "unknown"


class RecordedConfigError(RuntimeError):
    """The configuration topic holds a record replay can't trust (damaged, from a newer
    version, or whose text no longer gives its hash); the message says which and what to do."""


@dataclass(frozen=True)
class BrandsFile:
    """The configuration a process runs with, and what to record of it."""

    config: BrandConfig
    text: str | None  # None: the built-in default
    source: str


def read_brands_file(settings: Settings) -> BrandsFile:
    """MENTIONWATCH_BRANDS_FILE's configuration (or the built-in default). Raises ConfigError,
    naming the file, for one that can't be read or isn't valid."""
    path = settings.brands_file
    if path is None:
        return BrandsFile(default_brand_config(), None, BUILT_IN_DEFAULT)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"MENTIONWATCH_BRANDS_FILE={path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"MENTIONWATCH_BRANDS_FILE={path}: not UTF-8 text ({exc.reason})"
                          ) from None
    try:
        return BrandsFile(parse_brand_config(text, source=str(path)), text, str(path))
    except BrandConfigError as exc:
        raise ConfigError(str(exc)) from None


def to_version(record: RecordedBrandConfig, where: str) -> ConfigVersion:
    """A recorded configuration, parsed and checked against its hash. Raises
    RecordedConfigError naming `where` (topic, partition, offset)."""
    if record.toml is None:
        config = default_brand_config()
    else:
        try:
            config = parse_brand_config(record.toml, source=f"{where} ({record.source})")
        except BrandConfigError as exc:
            raise RecordedConfigError(f"the brand configuration recorded at {where} no longer "
                                      f"parses: {exc}") from None
    if brand_config_sha256(config) != record.sha256:
        raise RecordedConfigError(
            f"the brand configuration recorded at {where} gives another hash than recorded "
            f"({record.sha256[:12]}…): written by another mentionwatch version "
            f"({record.mentionwatch_version})? Judge with an explicit --brands-file")
    return ConfigVersion(record.effective_ms, record.sha256, record.source, config)


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer

    from agents.kafka_clients import kafka_python_security
    from agents.topics import bootstrap_kafka_python

    def build(bootstrap_timeout_ms: int) -> Any:
        return KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, bootstrap_timeout_ms=bootstrap_timeout_ms,
                             client_id="mentionwatch-brand-config",
                             **kafka_python_security(settings))

    return bootstrap_kafka_python(settings, build, READ_TIMEOUT_S)


def read_recorded(settings: Settings, *, strict: bool = True
                  ) -> list[tuple[RecordedBrandConfig, str]] | None:
    """Every record of the configuration topic with where it was read ("topic[p]@offset"); None
    when the topic doesn't exist (a deployment from before configurations were recorded).
    Raises RecordedConfigError for a record that doesn't decode (strict: an audit), or logs and
    skips it (a worker, which only needs to know whether its own configuration is the latest)."""
    from kafka import TopicPartition

    topic = settings.topic_brand_config
    consumer = _consumer(settings)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return None
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        out: list[tuple[RecordedBrandConfig, str]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise RecordedConfigError(f"could not read {topic} to its end within "
                                          f"{READ_TIMEOUT_S:g}s")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    where = f"{topic}[{record.partition}]@{record.offset}"
                    try:
                        out.append((decode_brand_config(record.value), where))
                    except DecodeError as error:
                        if not strict:
                            log.warning("skipping the unreadable record at %s (%s)", where,
                                        error.reason)
                            continue
                        raise RecordedConfigError(
                            f"the record at {where} is not a brand configuration this version "
                            f"reads ({error}); judge with an explicit --brands-file") from None
        return out
    finally:
        consumer.close()


def recorded_versions(settings: Settings) -> list[ConfigVersion] | None:
    """The recorded versions, parsed and checked (None: no configuration topic)."""
    records = read_recorded(settings)
    if records is None:
        return None
    return [to_version(record, where) for record, where in records]


@dataclass(frozen=True)
class Recorded:
    """What a worker found and did at start: the record it wrote (None: its configuration was
    already the latest) and every version recorded so far, its own included."""

    written: RecordedBrandConfig | None
    versions: tuple[ConfigVersion, ...]

    def judging(self, current: BrandConfig) -> BrandConfig:
        """What the worker judges with: `current` alone while it is the only version, else
        every mention with the version in force when it was created (as replay does)."""
        if len(self.versions) <= 1:
            return current
        return ConfigTimeline.of(self.versions, current=current)


def record_brand_config(settings: Settings, brands: BrandsFile, version: str,
                        now_ms: Callable[[], int] = lambda: int(time.time() * 1000)
                        ) -> Recorded:
    """Record the configuration a worker starts with, unless it is the latest recorded version.
    Waits for the broker's acknowledgement: a worker doesn't judge with a configuration an
    audit can't find. Raises TopicError when the broker can't be reached or refuses the
    record."""
    from kafka.errors import KafkaError

    from agents.topics import KafkaAuthError, TopicError

    try:
        return _record(settings, brands, version, now_ms)
    except (KafkaError, KafkaAuthError, RecordedConfigError) as exc:
        raise TopicError(f"could not record the brand configuration on "
                         f"{settings.topic_brand_config} ({type(exc).__name__}: {exc})"
                         ) from None


def _record(settings: Settings, brands: BrandsFile, version: str,
            now_ms: Callable[[], int]) -> Recorded:
    from agents.ingest import make_producer

    records = read_recorded(settings, strict=False) or []
    versions = []
    for record, where in records:
        try:
            versions.append(to_version(record, where))
        except RecordedConfigError as exc:  # as an unreadable record: the audit will say so
            log.warning("%s", exc)
    sha = brand_config_sha256(brands.config)
    if not needs_recording([(v.effective_ms, v.sha256) for v in versions], sha):
        return Recorded(None, ordered_versions(versions))
    record = RecordedBrandConfig(now_ms(), sha, brands.source, brands.text, version)
    producer = make_producer(settings)
    try:
        future = producer.send(settings.topic_brand_config, key=record.key,
                               value=encode_brand_config(record))
        future.get(timeout=SEND_TIMEOUT_S)
    finally:
        producer.close(timeout=5)
    own = ConfigVersion(record.effective_ms, sha, brands.source, brands.config)
    return Recorded(record, ordered_versions([*versions, own]))
