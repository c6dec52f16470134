"""Settings from environment variables (documented in docs/reference/settings.md,
generated from this file by ./dev docs).

Read once at the edge (CLI / worker start) and passed inward; the core never reads the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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


def _secret(env: dict[str, str], name: str) -> str | None:
    """A secret from NAME or from the file NAME_FILE (Docker/Kubernetes secrets), never both.
    The value itself never appears in an error message."""
    direct, path = env.get(name) or None, env.get(f"{name}_FILE") or None
    if direct and path:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if path is None:
        return direct
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path!r} can't be read: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{name}_FILE={path!r} is empty")
    return value


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How every Kafka client of the project (worker, ingest, replay, topic creation, sources)
    authenticates and encrypts. Secrets are left out of repr so they can't reach a log."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # TLS: the CA that signed the brokers' certificates (None: the system's CAs), and for
    # mTLS the client's certificate chain and key (PEM files).
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _kafka_security(env: dict[str, str]) -> KafkaSecurity:
    protocol = env.get("MENTIONWATCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(f"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL={protocol!r} must be one of "
                          f"{', '.join(SECURITY_PROTOCOLS)}")
    mechanism = (env.get("MENTIONWATCH_KAFKA_SASL_MECHANISM") or "").upper() or None
    username = env.get("MENTIONWATCH_KAFKA_USERNAME") or None
    password = _secret(env, "MENTIONWATCH_KAFKA_PASSWORD")
    if protocol.startswith("SASL_"):
        mechanism = mechanism or "SCRAM-SHA-512"
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"MENTIONWATCH_KAFKA_SASL_MECHANISM={mechanism!r} must be one of "
                              f"{', '.join(SASL_MECHANISMS)}")
        if not username or not password:
            raise ConfigError(f"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                              "MENTIONWATCH_KAFKA_USERNAME and MENTIONWATCH_KAFKA_PASSWORD "
                              "(or MENTIONWATCH_KAFKA_PASSWORD_FILE)")
    elif mechanism or username or password:
        raise ConfigError("MENTIONWATCH_KAFKA_SASL_MECHANISM/USERNAME/PASSWORD need "
                          "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)")
    paths = {}
    for key in ("CAFILE", "CERTFILE", "KEYFILE"):
        raw = env.get(f"MENTIONWATCH_KAFKA_SSL_{key}") or None
        if raw is not None and not Path(raw).is_file():
            raise ConfigError(f"MENTIONWATCH_KAFKA_SSL_{key}={raw!r} is not a readable file")
        paths[key] = Path(raw) if raw else None
    if any(paths.values()) and protocol not in ("SSL", "SASL_SSL"):
        raise ConfigError("MENTIONWATCH_KAFKA_SSL_* settings need "
                          "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL")
    if (paths["CERTFILE"] is None) != (paths["KEYFILE"] is None):
        raise ConfigError("mTLS needs both MENTIONWATCH_KAFKA_SSL_CERTFILE and "
                          "MENTIONWATCH_KAFKA_SSL_KEYFILE")
    check = env.get("MENTIONWATCH_KAFKA_SSL_CHECK_HOSTNAME", "true").lower()
    if check not in ("true", "false"):
        raise ConfigError(f"MENTIONWATCH_KAFKA_SSL_CHECK_HOSTNAME={check!r} must be true or false")
    return KafkaSecurity(
        protocol=protocol, sasl_mechanism=mechanism if protocol.startswith("SASL_") else None,
        username=username, password=password, ssl_cafile=paths["CAFILE"],
        ssl_certfile=paths["CERTFILE"], ssl_keyfile=paths["KEYFILE"],
        ssl_key_password=_secret(env, "MENTIONWATCH_KAFKA_SSL_KEY_PASSWORD"),
        ssl_check_hostname=check == "true",
    )


DAY_MS = 24 * 3600 * 1000

# The platforms that get their own `platform` label value in the metrics (the rest fold into
# platform="_other": a label value per made-up platform would let any producer grow the series
# count without bound). The sources' and the TWCS importer's platforms, and those the mention
# schema names.
DEFAULT_PLATFORMS = ("x", "twitter", "bluesky", "mastodon", "threads", "facebook", "instagram",
                     "linkedin", "tiktok", "youtube", "reddit", "web")
# The platform pattern of mention.v1.json.
_PLATFORM_RE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")


def _platforms(env: dict[str, str]) -> tuple[str, ...]:
    raw = env.get("MENTIONWATCH_PLATFORMS")
    if raw is None or not raw.strip():
        return DEFAULT_PLATFORMS
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if not _PLATFORM_RE.fullmatch(name):
            raise ConfigError(f"MENTIONWATCH_PLATFORMS: {name!r} is not a platform name "
                              "(lower case letter, then letters, digits, _ . -; at most 32)")
    return tuple(dict.fromkeys(names))


def _public_url(env: dict[str, str], web_port: int) -> str:
    """Where people reach the workers' web server (the care team's queue): the base of the
    links in alerts and the dashboard. Default: this host's web port."""
    raw = (env.get("MENTIONWATCH_PUBLIC_URL") or "").strip()
    if not raw:
        return f"http://localhost:{web_port}"
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", raw):
        raise ConfigError(f"MENTIONWATCH_PUBLIC_URL={raw!r} must be an http:// or https:// URL "
                          "without query or fragment")
    return raw.rstrip("/")


def _canonical_url(env: dict[str, str]) -> str | None:
    """How the other workers of the group reach this worker's web server (the queue's
    worker-to-worker fetch; faust's canonical_url). None: faust's default from the web host and
    port (this host's name when bound to a wildcard address)."""
    raw = (env.get("MENTIONWATCH_WEB_CANONICAL_URL") or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"https?://[^\s/?#@]+", raw.rstrip("/")):
        raise ConfigError(f"MENTIONWATCH_WEB_CANONICAL_URL={raw!r} must be http://host:port "
                          "(or https://), without path, query or credentials")
    return raw.rstrip("/")


def _retention_ms(env: dict[str, str], name: str, default_days: int) -> int:
    """Days as Kafka's retention.ms; "forever" (or -1) keeps records until deleted by hand."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("forever", "-1"):
        return -1
    days = _float(env, name, float(default_days))
    if days <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of days, or forever")
    return int(days * DAY_MS)


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
    topic_deletions: str = "mentions.deletions"
    topic_source_cursors: str = "mentionwatch.sources"
    topic_brand_config: str = "mentionwatch.config"
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
    kafka_security: KafkaSecurity = KafkaSecurity()
    # Every topic the project creates, faust's changelogs included. 1 suits the local broker;
    # a cluster wants 3 and 2 (docs/how-to/secured-cluster.md).
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # How long each topic keeps its records (they hold personal data:
    # docs/explanation/personal-data.md).
    # Raw (and enriched) mentions are the audit record, kept for the audit period; -1 keeps
    # them until deleted by hand.
    raw_retention_ms: int = 400 * DAY_MS
    enriched_retention_ms: int = 400 * DAY_MS
    dlq_retention_ms: int = 30 * DAY_MS
    events_retention_ms: int = 30 * DAY_MS
    # POST /mentions: the bearer token it requires (None: no token, only allowed when the web
    # server is bound to loopback).
    ingest_token: str | None = field(default=None, repr=False)
    # Platforms with a label value of their own in the metrics (others: platform="_other").
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    # The workers' web server as people reach it (the queue's links in alerts and dashboards).
    public_url: str = "http://localhost:6066"
    # The care team's queue (GET /queue, /queue.json, /queue/local.json): the token it requires
    # as a bearer token or as the password of HTTP basic auth with user "care" (None: no token,
    # only allowed when the web server is bound to loopback). The workers fetch each other's
    # part of the queue with it.
    queue_token: str | None = field(default=None, repr=False)
    # How the other workers reach this one's web server (None: http://web_host:web_port, or
    # this host's name when bound to 0.0.0.0 or ::).
    web_canonical_url: str | None = None

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


# Python's logging levels (faust takes the same names); "warn" is logging's alias of warning.
LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "critical")
# The JVM's -Xmx syntax: a number of bytes, or of k, m or g.
_HEAP_RE = re.compile(r"[1-9][0-9]*[kKmMgG]?")


def _check_local_broker(env: dict[str, str]) -> None:
    """The local broker's settings (read by agents/broker.py when it starts the JVM): checked
    here so that a typo is one clear line, not a traceback or a JVM that won't start."""
    raw = (env.get("MENTIONWATCH_KAFKA_CONTROLLER_PORT") or "").strip()
    if raw:
        try:
            port = int(raw)
        except ValueError:
            raise ConfigError(f"MENTIONWATCH_KAFKA_CONTROLLER_PORT={raw!r} is not a port "
                              "number") from None
        if not 1 <= port <= 65535:
            raise ConfigError(f"MENTIONWATCH_KAFKA_CONTROLLER_PORT={port} must be between 1 "
                              "and 65535")
    heap = env.get("MENTIONWATCH_KAFKA_HEAP")
    if heap is not None and not _HEAP_RE.fullmatch(heap):
        raise ConfigError(f"MENTIONWATCH_KAFKA_HEAP={heap!r} is not a JVM heap size (e.g. 1g, "
                          "512m)")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    _check_local_broker(env)
    log_level = env.get("MENTIONWATCH_LOG_LEVEL", "info")
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"MENTIONWATCH_LOG_LEVEL={log_level!r} must be one of "
                          f"{', '.join(LOG_LEVELS)}")
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
        topic_deletions=prefix + "mentions.deletions",
        topic_source_cursors=prefix + "mentionwatch.sources",
        topic_brand_config=prefix + "mentionwatch.config",
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
        log_level=log_level.lower(),
        topic_prefix=prefix,
        max_future_s=_float(env, "MENTIONWATCH_MAX_FUTURE_SECONDS", 300.0),
        stop_timeout_s=_float(env, "MENTIONWATCH_STOP_TIMEOUT_SECONDS", 25.0, minimum=1.0),
        kafka_security=_kafka_security(env),
        replication_factor=_int(env, "MENTIONWATCH_REPLICATION_FACTOR", 1, minimum=1),
        min_insync_replicas=_int(env, "MENTIONWATCH_MIN_INSYNC_REPLICAS", 1, minimum=1),
        raw_retention_ms=_retention_ms(env, "MENTIONWATCH_RAW_RETENTION_DAYS", 400),
        enriched_retention_ms=_retention_ms(env, "MENTIONWATCH_ENRICHED_RETENTION_DAYS", 400),
        dlq_retention_ms=_retention_ms(env, "MENTIONWATCH_DLQ_RETENTION_DAYS", 30),
        events_retention_ms=_retention_ms(env, "MENTIONWATCH_EVENTS_RETENTION_DAYS", 30),
        ingest_token=_secret(env, "MENTIONWATCH_INGEST_TOKEN"),
        platforms=_platforms(env),
        public_url=_public_url(env, _int(env, "MENTIONWATCH_WEB_PORT", 6066, minimum=1)),
        queue_token=_secret(env, "MENTIONWATCH_QUEUE_TOKEN"),
        web_canonical_url=_canonical_url(env),
    )
    if settings.min_insync_replicas > settings.replication_factor:
        raise ConfigError(
            f"MENTIONWATCH_MIN_INSYNC_REPLICAS={settings.min_insync_replicas} can't exceed "
            f"MENTIONWATCH_REPLICATION_FACTOR={settings.replication_factor}: no write would "
            "ever be acknowledged")
    if settings.ingest_token is not None and len(settings.ingest_token) < 16:
        raise ConfigError("MENTIONWATCH_INGEST_TOKEN must be at least 16 characters")
    if settings.queue_token is not None and (
            len(settings.queue_token) < 16 or not settings.queue_token.isprintable()):
        raise ConfigError("MENTIONWATCH_QUEUE_TOKEN must be at least 16 printable characters")
    if settings.store not in ("rocksdb://", "memory://"):
        raise ConfigError(
            f"MENTIONWATCH_STORE={settings.store!r} must be rocksdb:// or memory://"
        )
    if settings.complaint_threshold is not None and not 0 <= settings.complaint_threshold <= 1:
        raise ConfigError("MENTIONWATCH_COMPLAINT_THRESHOLD must be between 0 and 1")
    return settings
