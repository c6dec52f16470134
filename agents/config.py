"""Settings from environment variables (documented in docs/configuration.md).

Read once at the edge (CLI / worker start) and passed inward; the core never reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value that can't be used; the message names the variable."""


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: dict[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    home: Path = Path(".mentionwatch")
    partitions: int = 6
    topic_raw: str = "mentions.raw"
    topic_enriched: str = "mentions.enriched"
    topic_dlq: str = "mentions.dlq"
    topic_events: str = "complaints.events"
    topic_ticks: str = "mentionwatch.ticks"
    topic_rerouted: str = "mentionwatch.rerouted"
    app_id: str = "mentionwatch"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    store: str = "rocksdb://"
    classifier: str = "lexicon"
    complaint_threshold: float | None = None
    brands_file: Path | None = None
    max_record_bytes: int = 64 * 1024
    allowed_lateness_s: float = 60.0
    retention_s: float = 8 * 24 * 3600.0
    tick_interval_s: float = 5.0
    producer_linger_s: float = 0.02
    fetch_max_wait_ms: int = 100
    idle_grace_s: float = 60.0
    log_level: str = "info"
    topic_prefix: str = ""
    # A mention dated more than this ahead of the time it was produced (its Kafka record
    # timestamp) is dead-lettered as future_dated: it must not move a partition's clock.
    max_future_s: float = 300.0
    # A stop signal that hasn't stopped the worker after this long (broker down, a hung flush)
    # ends the process; the next start then restores its state from the changelog.
    stop_timeout_s: float = 25.0

    @property
    def installation_id(self) -> str:
        """One installation, one state: faust's app id (so the consumer group, the changelog
        and leader topics) and the state directory all follow it. The topic prefix is part of
        it unless the app id already starts with it."""
        if self.app_id.startswith(self.topic_prefix):
            return self.app_id
        return self.topic_prefix + self.app_id

    @property
    def state_dir(self) -> Path:
        """This worker's local table state (RocksDB), per installation and web port (two
        workers on one host have two ports)."""
        return self.home / "state" / self.installation_id / f"worker-{self.web_port}"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    brands_file = env.get("MENTIONWATCH_BRANDS_FILE") or None
    threshold = env.get("MENTIONWATCH_COMPLAINT_THRESHOLD")
    prefix = env.get("MENTIONWATCH_TOPIC_PREFIX", "")
    settings = Settings(
        topic_raw=prefix + "mentions.raw",
        topic_enriched=prefix + "mentions.enriched",
        topic_dlq=prefix + "mentions.dlq",
        topic_events=prefix + "complaints.events",
        topic_ticks=prefix + "mentionwatch.ticks",
        topic_rerouted=prefix + "mentionwatch.rerouted",
        bootstrap_servers=env.get("MENTIONWATCH_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        home=Path(env.get("MENTIONWATCH_HOME", ".mentionwatch")),
        partitions=_int(env, "MENTIONWATCH_PARTITIONS", 6, minimum=1),
        app_id=env.get("MENTIONWATCH_APP_ID", "mentionwatch"),
        web_host=env.get("MENTIONWATCH_WEB_HOST", "127.0.0.1"),
        web_port=_int(env, "MENTIONWATCH_WEB_PORT", 6066, minimum=1),
        metrics_host=env.get("MENTIONWATCH_METRICS_HOST", "127.0.0.1"),
        metrics_port=_int(env, "MENTIONWATCH_METRICS_PORT", 9108, minimum=0),
        store=env.get("MENTIONWATCH_STORE", "rocksdb://"),
        classifier=env.get("MENTIONWATCH_CLASSIFIER", "lexicon"),
        complaint_threshold=(
            _float(env, "MENTIONWATCH_COMPLAINT_THRESHOLD", 0.5) if threshold else None
        ),
        brands_file=Path(brands_file) if brands_file else None,
        max_record_bytes=_int(env, "MENTIONWATCH_MAX_RECORD_BYTES", 64 * 1024, minimum=1024),
        allowed_lateness_s=_float(env, "MENTIONWATCH_ALLOWED_LATENESS_SECONDS", 60.0),
        retention_s=_float(env, "MENTIONWATCH_RETENTION_SECONDS", 8 * 24 * 3600.0),
        tick_interval_s=_float(env, "MENTIONWATCH_TICK_INTERVAL_SECONDS", 5.0, minimum=0.1),
        producer_linger_s=_float(env, "MENTIONWATCH_PRODUCER_LINGER_MS", 20.0, minimum=0.0)
        / 1000,
        fetch_max_wait_ms=_int(env, "MENTIONWATCH_FETCH_MAX_WAIT_MS", 100, minimum=1),
        idle_grace_s=_float(env, "MENTIONWATCH_IDLE_GRACE_SECONDS", 60.0),
        log_level=env.get("MENTIONWATCH_LOG_LEVEL", "info"),
        topic_prefix=prefix,
        max_future_s=_float(env, "MENTIONWATCH_MAX_FUTURE_SECONDS", 300.0),
        stop_timeout_s=_float(env, "MENTIONWATCH_STOP_TIMEOUT_SECONDS", 25.0, minimum=1.0),
    )
    if settings.store not in ("rocksdb://", "memory://"):
        raise ConfigError(
            f"MENTIONWATCH_STORE={settings.store!r} must be rocksdb:// or memory://"
        )
    if settings.complaint_threshold is not None and not 0 <= settings.complaint_threshold <= 1:
        raise ConfigError("MENTIONWATCH_COMPLAINT_THRESHOLD must be between 0 and 1")
    return settings
