# ruff: noqa: E501
"""Hand-written descriptions for the generated reference (tools/gen_docs.py).

The lists themselves (settings, keys, metrics, commands) come from the code; only the words
are here. An item the code has and this file doesn't describe is generated with "(not
described yet)" and named by the generator, so a new setting is never left out."""

# Environment variables: what each does (its default comes from the code).
SETTINGS: dict[str, str] = {
    'MENTIONWATCH_BOOTSTRAP_SERVERS':
        'Kafka bootstrap servers (`host:port[,host:port]`). The local broker (`mentionwatch broker start`) listens here.',
    'MENTIONWATCH_HOME':
        "State directory: the local broker's data and logs (`kafka/`), the workers' table stores (`state/<installation>/worker-PORT/`), demo logs. Git-ignored.",
    'MENTIONWATCH_KAFKA_CONTROLLER_PORT':
        "The local broker's KRaft controller port.",
    'MENTIONWATCH_KAFKA_HEAP':
        "The local broker's JVM heap.",
    'MENTIONWATCH_PARTITIONS':
        'Partitions of every topic (created up front). The maximum useful number of workers. Must match existing topics.',
    'MENTIONWATCH_TOPIC_PREFIX':
        'Prefix for all topic names (several installations on one cluster; the tests use it).',
    'MENTIONWATCH_APP_ID':
        "With the topic prefix, the *installation*: the prefix followed by the app id (just the app id when it already starts with the prefix). It names the consumer group, the table changelog topics and the state directory `MENTIONWATCH_HOME/state/<installation>/`, so two installations on one cluster or home never share state; a worker refuses another installation's state directory.",
    'MENTIONWATCH_BRANDS_FILE':
        'The brand configuration (TOML), see `deploy/brands.example.toml` and [semantics](../explanation/semantics.md). Without it every brand is audited with the defaults (SLA 1 h, ignore deadline 24 h) as unconfigured.',
    'MENTIONWATCH_WEB_HOST':
        "The worker's HTTP server: `POST /mentions`, `GET /livez` (200 while the process answers; `/healthz` is the same, with the app id), `GET /readyz` (200 when partitions are assigned and the worker can work, else 503 with the reasons), the care team's queue (`GET /queue`, `/queue.json`, `/queue/local.json`: [the HTTP API](http-api.md#the-care-teams-queue)). Table contents are never served. Two workers on one host need two ports. Bound beyond loopback, a worker needs both `MENTIONWATCH_INGEST_TOKEN` and `MENTIONWATCH_QUEUE_TOKEN` or it refuses to start.",
    'MENTIONWATCH_WEB_PORT':
        "The worker's HTTP server: `POST /mentions`, `GET /livez` (200 while the process answers; `/healthz` is the same, with the app id), `GET /readyz` (200 when partitions are assigned and the worker can work, else 503 with the reasons), the care team's queue (`GET /queue`, `/queue.json`, `/queue/local.json`: [the HTTP API](http-api.md#the-care-teams-queue)). Table contents are never served. Two workers on one host need two ports. Bound beyond loopback, a worker needs both `MENTIONWATCH_INGEST_TOKEN` and `MENTIONWATCH_QUEUE_TOKEN` or it refuses to start.",
    'MENTIONWATCH_QUEUE_TOKEN':
        "The token of the care team's queue, at least 16 printable characters: every queue request needs it, as HTTP basic auth with user `care` and the token as password (a browser asks for it) or as `Authorization: Bearer <token>`. The workers send it to each other when they fetch each other's part of the queue, so every worker of a group needs the same one. Without it the queue answers only requests addressed to a loopback name (`localhost`, `127.0.0.1`, `[::1]`). Required when `MENTIONWATCH_WEB_HOST` is not a loopback address. Never logged. See [the queue's access](http-api.md#access).",
    'MENTIONWATCH_QUEUE_TOKEN_FILE':
        "The token of the care team's queue, at least 16 printable characters: every queue request needs it, as HTTP basic auth with user `care` and the token as password (a browser asks for it) or as `Authorization: Bearer <token>`. The workers send it to each other when they fetch each other's part of the queue, so every worker of a group needs the same one. Without it the queue answers only requests addressed to a loopback name (`localhost`, `127.0.0.1`, `[::1]`). Required when `MENTIONWATCH_WEB_HOST` is not a loopback address. Never logged. See [the queue's access](http-api.md#access).",
    'MENTIONWATCH_WEB_CANONICAL_URL':
        "How the *other workers* reach this worker's web server (`http://host:port`, no path): each worker announces it to the consumer group, and `GET /queue.json` fetches every other worker's part of the queue there. Set it when that default doesn't reach the worker from the others, e.g. in containers (`http://worker-1:6066`; docker-compose.yml sets it per worker).",
    'MENTIONWATCH_METRICS_HOST':
        'The Prometheus exporter (`/metrics`). Port 0 disables it.',
    'MENTIONWATCH_METRICS_PORT':
        'The Prometheus exporter (`/metrics`). Port 0 disables it.',
    'MENTIONWATCH_STORE':
        'Table store: `rocksdb://` (persistent, fast restart) or `memory://` (replays the changelog at every start).',
    'MENTIONWATCH_CLASSIFIER':
        'Classifier backend: `lexicon`, `model:PATH` (a model file from `mentionwatch train`) or `package.module:attribute` ([classification](../explanation/classification.md)).',
    'MENTIONWATCH_COMPLAINT_THRESHOLD':
        'Complaint score threshold in [0, 1].',
    'MENTIONWATCH_MAX_RECORD_BYTES':
        'Larger raw records are dead-lettered as `too_large`.',
    'MENTIONWATCH_ALLOWED_LATENESS_SECONDS':
        'The live watermark is the largest event time seen in a partition less this.',
    'MENTIONWATCH_STOP_TIMEOUT_SECONDS':
        'A worker still running this long after SIGTERM, SIGINT or SIGHUP (broker down, a hung flush) exits with code 124; its next start restores its tables from the changelog ([worker lifecycle](worker-lifecycle.md)).',
    'MENTIONWATCH_MAX_FUTURE_SECONDS':
        "How far a mention's `created_at` may be ahead of the time it was produced (its Kafka record timestamp; for `POST /mentions` the time of receipt) before it is rejected as `future_dated` (dead letter, HTTP 400, an `ingest` reject). An accepted mention moves a clock no further than its produced time ([semantics](../explanation/semantics.md#future-dated-mentions)). Replay applies the same value to the same records, so set it alike for workers and replays.",
    'MENTIONWATCH_IDLE_GRACE_SECONDS':
        'After a partition is idle this long, its clock runs on with wall time (so complaints go overdue on a quiet night).',
    'MENTIONWATCH_RETENTION_SECONDS':
        'Decided complaints are compacted out of the tables this long after they were decided (longer than the 7-day share window).',
    'MENTIONWATCH_TICK_INTERVAL_SECONDS':
        'How often the timer ages open complaints and refreshes the gauges.',
    'MENTIONWATCH_FETCH_MAX_WAIT_MS':
        "How long the worker's consumer lets the broker hold a fetch for partitions without new records (faust hard-codes 1500, which delays busy partitions: agents/faust_compat.py).",
    'MENTIONWATCH_PRODUCER_LINGER_MS':
        "How long the worker's producer waits to fill a batch. Longer batches cost the broker and the worker less per record and add at most this much latency ([performance](../explanation/performance.md)).",
    'MENTIONWATCH_LOG_LEVEL':
        'Worker log level.',
    'MENTIONWATCH_PLATFORMS':
        'The platforms that get a `platform` label value of their own in the metrics, comma-separated (names as in mention.v1: a lower-case letter, then letters, digits, `_ . -`). Mentions of other platforms are tracked and audited as usual, but their metrics count under `platform="_other"`, like unconfigured brands under `brand="_unconfigured"`: a producer inventing platforms can\'t grow the number of series. Add a platform here before you ingest from it.',
    'MENTIONWATCH_PUBLIC_URL':
        "Where people reach the workers' web server (the care team's queue), as seen from their browsers: `http://` or `https://`, no query. The workers export it (`mentionwatch_public_url_info`) for the dashboard's queue links; see [links in alerts and dashboards](../how-to/alerts-to-chat.md#links-in-alerts).",
    'MENTIONWATCH_SHARED_DATA':
        'Where the evaluation data sets are (eval-classifier, tests).',
    'MENTIONWATCH_GRAFANA_URL':
        "Read by Prometheus, Grafana: `dashboard_url` = base + `/d/mentionwatch-overview/mentionwatch?var-brand=<brand>` on the care alerts; Grafana's `root_url` (its own links in notifications)",
    'MENTIONWATCH_DOCS_URL':
        'Read by Prometheus, Grafana: `runbook_url` = base + `/operations.md#<alert>` on every alert (point it at your copy of the docs to pin their version)',
    'MENTIONWATCH_KAFKA_SECURITY_PROTOCOL':
        '`PLAINTEXT`, `SSL` (TLS, optionally mTLS), `SASL_PLAINTEXT` or `SASL_SSL` (user and password over TLS: what managed Kafka services use).',
    'MENTIONWATCH_KAFKA_SASL_MECHANISM':
        '`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`. Only with a `SASL_*` protocol.',
    'MENTIONWATCH_KAFKA_USERNAME':
        'The SASL user (required with a `SASL_*` protocol).',
    'MENTIONWATCH_KAFKA_PASSWORD':
        'The SASL password, or a file holding it (a Docker/Kubernetes secret; surrounding whitespace is dropped). Set one, not both.',
    'MENTIONWATCH_KAFKA_PASSWORD_FILE':
        'The SASL password, or a file holding it (a Docker/Kubernetes secret; surrounding whitespace is dropped). Set one, not both.',
    'MENTIONWATCH_KAFKA_SSL_CAFILE':
        "PEM file of the CA(s) that signed the brokers' certificates. Managed services with public certificates need none.",
    'MENTIONWATCH_KAFKA_SSL_CERTFILE':
        "mTLS: the client's certificate chain and private key (PEM), both or neither.",
    'MENTIONWATCH_KAFKA_SSL_KEYFILE':
        "mTLS: the client's certificate chain and private key (PEM), both or neither.",
    'MENTIONWATCH_KAFKA_SSL_KEY_PASSWORD':
        'The password of an encrypted client key.',
    'MENTIONWATCH_KAFKA_SSL_KEY_PASSWORD_FILE':
        'The password of an encrypted client key.',
    'MENTIONWATCH_KAFKA_SSL_CHECK_HOSTNAME':
        "`false` stops matching the broker's host name against its certificate (brokers with certificates for internal names); the certificate chain is still verified against the CA.",
    'MENTIONWATCH_REPLICATION_FACTOR':
        "Replicas of every topic mentionwatch creates: its own topics (`topics create`, and every worker at start; [topics](topics.md)) and faust's (the tables' changelog topics and the assignor's leader topic). 1 suits the single local broker; **use 3 on a cluster**.",
    'MENTIONWATCH_MIN_INSYNC_REPLICAS':
        "`min.insync.replicas` of the same topics, changelogs included: a write is acknowledged only once this many replicas have it. **Use 2 with a replication factor of 3**: one broker can be lost (or restarted for an upgrade) without losing an acknowledged record or stopping writes. Can't exceed the replication factor.",
    'MENTIONWATCH_BLUESKY_ENDPOINT':
        'The Jetstream instance (Bluesky runs four public ones; or your own).',
    'MENTIONWATCH_MASTODON_INSTANCE':
        "The brand account's instance, `https://social.example`.",
    'MENTIONWATCH_MASTODON_ACCOUNT':
        "The brand's account, `user@instance`; must be one of a brand's `mastodon.accounts`. The token must be this account's.",
    'MENTIONWATCH_MASTODON_TOKEN':
        "The account's access token (an application under Preferences > Development with scope `read`; streaming needs a user token since Mastodon 4.2). Sent only in the `Authorization` header, never in a URL, a log line or a record.",
    'MENTIONWATCH_MASTODON_TOKEN_FILE':
        "The account's access token (an application under Preferences > Development with scope `read`; streaming needs a user token since Mastodon 4.2). Sent only in the `Authorization` header, never in a URL, a log line or a record.",
    'MENTIONWATCH_MASTODON_STREAMING_URL':
        'Where the streaming API is, when the instance serves it elsewhere.',
    'MENTIONWATCH_SOURCE_METRICS_PORT':
        "The source's `/metrics` on `MENTIONWATCH_METRICS_HOST`; 0 for none.",
}

# Metrics: (meaning, whether the series of several workers may be summed).
METRICS: dict[str, tuple[str, str]] = {
    'mentionwatch_mentions_total': (
        'mentions enriched',
        'yes (rate then sum)'),
    'mentionwatch_complaints_total': (
        'complaints opened (inbound, classified as complaint)',
        'yes'),
    'mentionwatch_complaints_answered_total': (
        'complaints answered within the ignore deadline',
        'yes'),
    'mentionwatch_complaints_answered_within_sla_total': (
        "of the answered ones, those answered within the brand's SLA: business-time age at the answer at most the SLA (an answer exactly at the SLA is in time; [semantics](../explanation/semantics.md#unanswered-age-overdue-ignored-answered-late)). Counted with the `answered` transition; SLA attainment = this / (answered + ignored)",
        'yes'),
    'mentionwatch_complaints_answered_late_total': (
        'ignored complaints answered later (does not undo "ignored")',
        'yes'),
    'mentionwatch_complaints_ignored_total': (
        'complaints that passed the ignore deadline unanswered',
        'yes'),
    'mentionwatch_complaint_corrections_total': (
        'announced transitions withdrawn because a late record proved them wrong (e.g. an "ignored" whose answer, earlier in event time, arrived after the deadline passed); `retracted` is the withdrawn kind',
        'yes'),
    'mentionwatch_dead_letters_total': (
        'records sent to the dead-letter topic; reasons `not_json`, `schema_violation`, `unknown_schema_version`, `too_large`, `unroutable`, `processing_error`, `future_dated` (all initialised to 0)',
        'yes'),
    'mentionwatch_records_processed_total': (
        'records processed per agent',
        'yes'),
    'mentionwatch_offset_gaps_total': (
        'times faust handed an agent a record past unprocessed ones, which the agent then read and processed itself (see [rebalances](../explanation/processing.md#rebalances-a-known-faust-limit))',
        'yes'),
    'mentionwatch_offset_gap_records_total': (
        'records read and processed that way',
        'yes'),
    'mentionwatch_complaints_open': (
        'complaints waiting for an answer',
        'yes'),
    'mentionwatch_complaints_overdue': (
        "open complaints past the brand's SLA",
        'yes'),
    'mentionwatch_complaints_due_soon': (
        "open complaints within the brand's due-soon lead time of the SLA, not overdue yet ([semantics](../explanation/semantics.md#unanswered-age-overdue-ignored-answered-late))",
        'yes'),
    'mentionwatch_complaints_ignore_soon': (
        "open complaints within the brand's ignore-soon lead time of the ignore deadline",
        'yes'),
    'mentionwatch_oldest_open_complaint_created_timestamp_seconds': (
        'event time of the oldest open complaint; absent when none is open. Age: `time() - …`',
        '**no**: `min` across workers'),
    'mentionwatch_first_response_seconds': (
        'first response time of answered complaints, late answers included; buckets 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 345600, 604800 s',
        'yes (sum the buckets by `le`, then `histogram_quantile`)'),
    'mentionwatch_complaints_decided_window': (
        'complaints decided (answered or ignored) whose event time is in the share window (default: the last 7 days)',
        'yes'),
    'mentionwatch_complaints_ignored_window': (
        'of those, the ignored ones',
        'yes'),
    'mentionwatch_brand_sla_seconds': (
        "the brand's configured SLA",
        '**no**: the same on every worker; `max`'),
    'mentionwatch_brand_ignore_after_seconds': (
        "the brand's configured ignore deadline",
        '**no**: `max`'),
    'mentionwatch_last_processed_timestamp_seconds': (
        'wall-clock time this worker last processed a record or ran its timer (every tick, 5 s by default: an idle worker stays fresh)',
        '**no**: per worker (`max` for "anyone")'),
    'mentionwatch_consumer_lag_records': (
        "records of the work topics (`mentions.raw`, `mentionwatch.rerouted`) not yet processed on this worker's partitions; faust's changelog and internal topics are left out (a worker never reads them back). Before the first record after a start, counted from the group's committed offset",
        'yes, but `max by (topic, partition)` first: during a rebalance two workers can report the same partition'),
    'mentionwatch_offset_gap_records_unread_total': (
        'skipped records the offset guard could not read back in time (the group starts at the gap again after the next restart)',
        'yes'),
    'mentionwatch_events_resent_total': (
        'transitions sent to `complaints.events` again after a restart or rebalance because no producer flush had confirmed them ([crash safety](../explanation/processing.md#crash-safety)); same `event_id`, so consumers drop the repeats',
        'yes'),
    'mentionwatch_build_info': (
        'always 1: what runs',
        '**no**: per worker'),
    'mentionwatch_public_url_info': (
        "always 1: `MENTIONWATCH_PUBLIC_URL`, where people reach the workers' web server (the care team's queue); the dashboard's links read it",
        '**no**: per worker'),
    'mentionwatch_source_connected': (
        "1 while the source's stream is connected",
        'per source'),
    'mentionwatch_source_last_event_timestamp_seconds': (
        'platform time of the newest event read (Bluesky: `time_us`)',
        'per source'),
    'mentionwatch_source_cursor_timestamp_seconds': (
        'platform time of the durable cursor: a restart resumes there',
        'per source'),
    'mentionwatch_source_events_read_total': (
        'frames and REST items read',
        'per source'),
    'mentionwatch_source_mentions_produced_total': (
        'mentions produced to `mentions.raw`',
        'yes'),
    'mentionwatch_source_events_skipped_total': (
        'events that produced nothing: `no_brand`, `update`, `identity`, `account`, `not_a_post`, `brand_post_not_reply`, `reblog`, `not_public`, `parent_unknown`, `notification_<type>`, ...',
        'yes'),
    'mentionwatch_source_frames_rejected_total': (
        "frames dead-lettered (`not_json`, `bad_frame`, `bad_post`, `bad_status`, or the worker's reason such as `future_dated`)",
        'yes'),
    'mentionwatch_source_duplicates_total': (
        'posts read again (reconnect, restart, catch-up) and not produced twice',
        'yes'),
    'mentionwatch_source_deletions_total': (
        'deletions written to `mentions.deletions`',
        'yes'),
    'mentionwatch_source_reconnects_total': (
        'connections lost and retried (backoff 1 s doubling to 60 s, with jitter)',
        'per source'),
    'mentionwatch_source_gaps_total': (
        'resumes that could not start at the cursor (events missed)',
        'per source'),
}

# Settings whose default is computed, not a literal the code passes.
SETTING_DEFAULTS: dict[str, str] = {
    "MENTIONWATCH_KAFKA_CONTROLLER_PORT": "bootstrap port + 1",
    "MENTIONWATCH_PUBLIC_URL": "`http://localhost:<MENTIONWATCH_WEB_PORT>`",
    "MENTIONWATCH_WEB_CANONICAL_URL": "`http://<web host>:<web port>`",
    "MENTIONWATCH_COMPLAINT_THRESHOLD": "the backend's default",
    "MENTIONWATCH_PLATFORMS": "`x,twitter,bluesky,mastodon,threads,facebook,instagram,linkedin,tiktok,youtube,reddit,web`",
    "MENTIONWATCH_KAFKA_SASL_MECHANISM": "`SCRAM-SHA-512` with SASL",
    "MENTIONWATCH_KAFKA_SSL_CAFILE": "the system's CAs",
    "MENTIONWATCH_SHARED_DATA": "`../shared/data`",
    "MENTIONWATCH_PRODUCER_LINGER_MS": "`20`",
    "MENTIONWATCH_SOURCE_METRICS_PORT": "`9110` (bluesky), `9111` (mastodon)",
    "MENTIONWATCH_DOCS_URL": "`https://github.com/mentionwatch/mentionwatch/blob/main/docs`",
    "MENTIONWATCH_GRAFANA_URL": "`http://localhost:3000`",
    "MENTIONWATCH_RETENTION_SECONDS": "`691200` (8 days)",
}

SETTINGS.update({
    "MENTIONWATCH_RAW_RETENTION_DAYS": "How long `mentions.raw` (the audit record) and `mentions.deletions` keep records, in days (fractions allowed); `forever` (or -1) keeps them until deleted by hand. A replay can only audit what `mentions.raw` still holds ([backup and disk sizing](../how-to/backup-and-restore.md#disk-sizing), [personal data](../explanation/personal-data.md)). Applied to existing topics by `topics create --apply-config`.",
    "MENTIONWATCH_ENRICHED_RETENTION_DAYS": "The same for `mentions.enriched`.",
    "MENTIONWATCH_DLQ_RETENTION_DAYS": "The same for `mentions.dlq` (dead letters).",
    "MENTIONWATCH_EVENTS_RETENTION_DAYS": "The same for `complaints.events`.",
    "MENTIONWATCH_INGEST_TOKEN": "The bearer token `POST /mentions` requires (at least 16 characters; compared in constant time, never logged). Required when `MENTIONWATCH_WEB_HOST` is not a loopback address ([the HTTP API](http-api.md#post-mentions)).",
    "MENTIONWATCH_INGEST_TOKEN_FILE": "A file holding `MENTIONWATCH_INGEST_TOKEN`.",
    "MENTIONWATCH_QUEUE_TOKEN_FILE": "A file holding `MENTIONWATCH_QUEUE_TOKEN`.",
    "MENTIONWATCH_KAFKA_PASSWORD_FILE": "A file holding `MENTIONWATCH_KAFKA_PASSWORD`.",
    "MENTIONWATCH_KAFKA_SSL_KEYFILE": "mTLS: the client's private key (PEM); with `MENTIONWATCH_KAFKA_SSL_CERTFILE`.",
    "MENTIONWATCH_MASTODON_TOKEN_FILE": "A file holding `MENTIONWATCH_MASTODON_TOKEN`.",
    "MENTIONWATCH_METRICS_PORT": "The Prometheus exporter's port (`GET /metrics`); 0 disables it.",
    "MENTIONWATCH_WEB_PORT": "The worker's HTTP server's port (`POST /mentions`, the probes, the care team's queue). Two workers on one host need two ports; it also names the worker's state directory.",
    "MENTIONWATCH_DOCS_URL": "Read by Prometheus and Grafana (not by mentionwatch): the base of every alert's `runbook_url` = base + `/how-to/runbooks.md#<alert, lower case>`. Point it at your copy of the docs to pin their version ([links in alerts](../how-to/alerts-to-chat.md#links-in-alerts)).",
    "MENTIONWATCH_GRAFANA_URL": "Read by Prometheus and Grafana: `dashboard_url` = base + `/d/mentionwatch-overview/mentionwatch?var-brand=<brand>` on the care alerts; Grafana's `root_url`.",
})

# docker-compose.yml's variables (from .env).
COMPOSE: dict[str, str] = {
    "GF_SECURITY_ADMIN_PASSWORD": "Grafana's admin password.",
    "GF_SECURITY_ADMIN_USER": "Grafana's admin user.",
    "MENTIONWATCH_ALERT_WEBHOOK_URL": "Where Grafana sends its care alerts (contact point `mentionwatch-care`); for chat tools the URL is the secret.",
    "MENTIONWATCH_OPS_ALERT_WEBHOOK_URL": "Where Grafana sends its ops alerts (contact point `mentionwatch-ops`: the pipeline).",
    "MENTIONWATCH_INGEST_TOKEN": "The workers' `POST /mentions` bearer token (16+ characters).",
    "MENTIONWATCH_QUEUE_TOKEN": "The care team's queue token (16+ characters): the browser's password for user `care`.",
    "MENTIONWATCH_ALERTMANAGER_PORT": "Host port of the Alertmanager UI (9193, not 9093: the local stack's Kafka controller has 9093).",
    "MENTIONWATCH_GRAFANA_PORT": "Host port of Grafana.",
    "MENTIONWATCH_PROMETHEUS_PORT": "Host port of Prometheus.",
    "MENTIONWATCH_KAFKA_HOST_PORT": "Host port of Kafka's second listener, for tools on the host (`MENTIONWATCH_BOOTSTRAP_SERVERS=localhost:29092`).",
    "MENTIONWATCH_QUEUE_PORT": "Host port of worker-1's web server: the care team's queue and `POST /mentions`.",
    "MENTIONWATCH_PARTITIONS": "Partitions of every topic (and Kafka's default); set before the first start.",
    "MENTIONWATCH_CLASSIFIER": "The workers' classifier backend.",
    "MENTIONWATCH_LOG_LEVEL": "The workers' log level.",
    "MENTIONWATCH_PLATFORMS": "The workers' platform label list (empty: the default list).",
    "MENTIONWATCH_PUBLIC_URL": "Base of the queue links in alerts and on the dashboard (workers, Prometheus, Grafana).",
    "MENTIONWATCH_GRAFANA_URL": "Base of the dashboard links in alerts; Grafana's root URL.",
    "MENTIONWATCH_DOCS_URL": "Base of the runbook links in alerts.",
    "MENTIONWATCH_BLUESKY_ENDPOINT": "The Bluesky source's Jetstream instance (profile `bluesky`).",
    "MENTIONWATCH_MASTODON_INSTANCE": "The Mastodon source's instance (profile `mastodon`).",
    "MENTIONWATCH_MASTODON_ACCOUNT": "The Mastodon source's brand account, user@instance.",
    "MENTIONWATCH_MASTODON_TOKEN": "The Mastodon source's access token (scope read).",
}

ARGUMENTS: dict[str, str] = {
    "FILE": "The input file (`-` or none: standard input, for `classify`).",
}

COMMAND_NOTES: dict[str, str] = {
    "eval-classifier": "Needs the evaluation data sets, which are **not in this repository** "
    "(non-commercial licences): by default `../shared/data/airline/dev.csv` and "
    "`../shared/data/germeval2017/dev.tsv` beside your clone (`MENTIONWATCH_SHARED_DATA`), or "
    "give `--airline` and `--germeval`. Without them it stops with an error naming the missing "
    "file. See [classification](../explanation/classification.md).",
    "replay": "Every mention is judged with the brand configuration the workers recorded as in "
    "force when it was made (`--brands-file` overrides that, and the report says so); give it "
    "the workers' classifier and `MENTIONWATCH_MAX_FUTURE_SECONDS`. What the report holds: "
    "[auditing](../how-to/audit-a-period.md).",
    "ingest": "Exit 0 when every line was sent, 1 when any was rejected or refused by the "
    "broker (each with its line number), 1 with one `Error:` line when the broker can't be "
    "reached (after 30 s).",
    "worker": "Exit 2 on a configuration error (a bad brands file, another installation's "
    "state directory, a token missing beyond loopback), 1 when the broker is unreachable or "
    "refuses us, 124 when a stop signal didn't stop it within "
    "`MENTIONWATCH_STOP_TIMEOUT_SECONDS`.",
}

BRAND_FILE_INTRO = (
    "One TOML file (`MENTIONWATCH_BRANDS_FILE`) says who each brand is and how long its "
    "complaints may wait. Every key is checked when a command reads the file: an unknown key "
    "(with a suggestion), a malformed duration or time, an unknown time zone or a bad date "
    "stops it with a line naming the file, the brand and the field, e.g. `brands.toml: "
    "brands.db.sla: '1x' is not a duration (use e.g. '1h', '90m', '3600s')`.\n\n"
    "**Durations** are strings of days, hours, minutes, seconds in that order: `\"1h\"`, "
    "`\"90m\"`, `\"3600s\"`, `\"1h30m\"`, `\"7d\"`, longer than zero. \"Passes\" means strictly "
    "longer than.\n\n"
    "**The brand key** (`[brands.db]`: `db`) is the `brand` field of every mention.v1 record "
    "of that brand: your producers and this file must use the same key (letters, digits, "
    "`_ . -`; at most 64; not starting with `.` or `-`). Mentions of a key that isn't "
    "configured are still tracked and audited, with `[defaults]`, flagged unconfigured, and "
    "counted under `brand=\"_unconfigured\"` in the metrics (no alert).\n\n"
    "**Changing the file** needs a restart of the workers (and of the sources, for their "
    "keys): it is read once at start. What it changes: [add a brand](../how-to/add-a-brand.md#changing-a-brand).")

BRAND_KEYS: dict[str, str] = {
    "brands": "One table per brand: `[brands.<key>]`.",
    "defaults": "Defaults for every brand, and for unconfigured brand keys.",
    "defaults.sla": "Overdue once the unanswered (business) age passes this.",
    "defaults.ignore_after": "Ignored once the unanswered age passes this; at least the SLA.",
    "defaults.due_soon": "The due-soon warning comes this long (business time) before the SLA. A default longer than a brand's SLA is cut to half the SLA.",
    "defaults.ignore_soon": "The ignore-soon warning comes this long before the ignore deadline (cut like `due_soon`).",
    "defaults.share_window": "The live ignored share covers complaints whose event time is in this window (the last 7 days).",
    "brands.<key>.name": "Display name (default: the key).",
    "brands.<key>.accounts": "The brand's own handles (X/Twitter and any platform whose records carry handles). A post by one of them is the brand's: never a complaint; it can answer. Case-insensitive, a leading `@` optional.",
    "brands.<key>.sla": "This brand's SLA (default: `[defaults] sla`).",
    "brands.<key>.ignore_after": "This brand's ignore deadline (default: `[defaults] ignore_after`); at least its SLA.",
    "brands.<key>.due_soon": "This brand's due-soon lead time; shorter than its SLA.",
    "brands.<key>.ignore_soon": "This brand's ignore-soon lead time; shorter than its ignore deadline.",
    "brands.<key>.timezone": "IANA time zone (`\"Europe/Berlin\"`); required with `business_hours`, informational without.",
    "brands.<key>.business_hours": "When set, the SLA and ignore deadline count business time only (local wall time; DST handled). All seven days must be given.",
    "brands.<key>.holidays": "Local dates (`\"2026-12-25\"`) on which the clock does not run; only with `business_hours` (or inside that table).",
    "brands.<key>.hashtags": "For the sources: hashtags that name the brand (without `#`, any case).",
    "brands.<key>.keywords": "For the sources: phrases that name the brand (case-insensitive, on word boundaries: \"DB\" matches \"die DB streikt\", not \"DBMS\").",
    "brands.<key>.bluesky": "The brand's Bluesky identities (for the Bluesky source).",
    "brands.<key>.mastodon": "The brand's Mastodon accounts (for the Mastodon source).",
    "brands.<key>.business_hours.<day>": "`\"08:00-18:00\"`, several intervals `\"08:00-12:00,13:00-17:00\"`, or `\"closed\"`; `\"24:00\"` closes at midnight. Intervals are [open, close).",
    "brands.<key>.business_hours.holidays": "As `brands.<key>.holidays` (give them in one place only).",
    "brands.<key>.bluesky.dids": "The brand's DIDs (`did:plc:` + 24 base32 characters, or `did:web:`): what facets, replies and quotes name. Resolve a handle with `https://bsky.social/xrpc/com.atproto.identity.resolveHandle?handle=HANDLE`. They count as the brand's accounts.",
    "brands.<key>.bluesky.handles": "The brand's Bluesky handles, for the reader (posts name DIDs).",
    "brands.<key>.mastodon.accounts": "The brand's accounts as `user@instance` (also the account `source mastodon` logs in as). They count as the brand's accounts.",
}

BRAND_KEY_DEFAULTS: dict[str, str] = {
    "brands.<key>.name": "the key",
    "brands.<key>.accounts": "`[]`",
    "brands.<key>.sla": "`[defaults] sla`",
    "brands.<key>.ignore_after": "`[defaults] ignore_after`",
    "brands.<key>.due_soon": "`[defaults] due_soon`",
    "brands.<key>.ignore_soon": "`[defaults] ignore_soon`",
    "brands.<key>.timezone": "none",
    "brands.<key>.business_hours": "none: around the clock",
    "brands.<key>.holidays": "`[]`",
    "brands.<key>.hashtags": "`[]`",
    "brands.<key>.keywords": "`[]`",
    "brands.<key>.bluesky": "none",
    "brands.<key>.mastodon": "none",
    "brands.<key>.share_window": "–",
}

METRICS_INTRO = (
    "The worker's exporter (`GET /metrics` on `MENTIONWATCH_METRICS_PORT`) and each source's "
    "(`MENTIONWATCH_SOURCE_METRICS_PORT`) export exactly these series (worker first, then "
    "sources). Prometheus adds `job` and `instance`.\n\n"
    "Labels are bounded: `brand` is a configured brand key, everything else is folded into "
    "`brand=\"_unconfigured\"` (the alerts ignore it); `platform` is one of "
    "`MENTIONWATCH_PLATFORMS`, every other platform is `platform=\"_other\"`. A producer that "
    "invents brands or platforms adds no series.\n\n"
    "\"Sum across workers\" says whether adding up the series of several workers gives the "
    "right total. Each worker exports only its own partitions, so stocks and counters add up; "
    "ratios, timestamps and configuration values don't.")

METRICS_OUTRO = (
    "Cross-worker numbers that need more than `sum` are [recording rules](alerts.md#recording-rules). "
    "The ignored share across workers is `sum(ignored_window) / sum(decided_window)`, never the "
    "sum or mean of per-worker shares, and an empty window has no share (the denominator is "
    "filtered with `> 0`: absent, not 0 or NaN).\n\n"
    "The four outcome counters (answered, answered within SLA, answered late, ignored) of a "
    "brand and platform appear together, at 0, with the first transition a worker counts for "
    "them. Like every counter they follow what was announced: a late record that retracts an "
    "`overdue` of an already answered complaint (a correction) does not move that answer into "
    "\"within SLA\"; the [audit](../how-to/audit-a-period.md) has the exact figures. What each number "
    "means: [semantics](../explanation/semantics.md).")

ALERTS_INTRO = (
    "Prometheus evaluates the rules in `deploy/prometheus/rules/` and sends alerts to "
    "Alertmanager, which routes by the `team` label: `care` (the social-care team: complaints "
    "waiting) or `ops` (whoever runs mentionwatch). Each alert has a unit test at its `for` "
    "boundary in `deploy/prometheus/tests/alerts.test.yml`, and the annotations `summary`, "
    "`description` and `runbook_url`; the care alerts also `queue_url` (the care team's queue "
    "filtered to the brand) and `dashboard_url`.\n\n"
    "| annotation | on | value |\n|---|---|---|\n"
    "| `runbook_url` | every alert | `MENTIONWATCH_DOCS_URL` + `/how-to/runbooks.md#<alert name, lower case>` |\n"
    "| `queue_url` | care alerts | `MENTIONWATCH_PUBLIC_URL` + `/queue?brand=<brand>` |\n"
    "| `dashboard_url` | care alerts | `MENTIONWATCH_GRAFANA_URL` + `/d/mentionwatch-overview/mentionwatch?var-brand=<brand>` |\n\n"
    "The bases are Prometheus' external labels `mentionwatch_docs_url`, "
    "`mentionwatch_public_url` and `mentionwatch_grafana_url` "
    "(`deploy/prometheus/prometheus.yml` fills them from the environment variables of the "
    "same names in upper case; Prometheus 2 needs `--enable-feature=expand-external-labels`). "
    "Without them the links fall back to this repository's docs and `http://localhost:6066` / "
    "`http://localhost:3000`.")

ALERTS_OUTRO = (
    "The Grafana dashboard does not read the recording rules: it computes from the exported "
    "metrics of the job its `job` variable selects, so it works in any Prometheus that scrapes "
    "mentionwatch. The recording rules are for queries, federation and the Grafana-managed "
    "ignored-share alert. Changing thresholds: [runbooks](../how-to/runbooks.md#changing-thresholds).")

EXAMPLE_MENTION: dict[str, object] = {
    "schema_version": 1,
    "id": "1866001234567890123",
    "platform": "x",
    "brand": "acme",
    "author": {"id": "1001", "handle": "anna_k", "is_brand": False},
    "text": "My train was cancelled again and nobody helps. Terrible service!",
    "created_at": "2026-12-03T10:00:00Z",
    "lang": "en",
    "url": "https://x.com/anna_k/status/1866001234567890123",
    "followers": 250,
}

EXAMPLES: dict[str, object] = {
    "source_cursor.v1": {
        "schema_version": 1, "source": "bluesky", "platform": "bluesky",
        "position": {"time_us": 1764756000123456},
        "raw_offsets": {"0": 1041, "1": 998, "2": 1203, "3": 1010, "4": 987, "5": 1100},
        "recent_ids": ["at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lbxyz"],
        "saved_at": "2026-12-03T10:00:01.000Z",
    },
}

WIRE_INTRO = (
    "Every record on mentionwatch's topics is UTF-8 JSON, described by a JSON Schema in "
    "`schemas/` (draft 2020-12). `schema_version` is the wire version: a consumer rejects "
    "versions it doesn't know (a producer's record with another version is dead-lettered as "
    "`unknown_schema_version`). Times are RFC 3339 with a zone (`Z` or an offset) or epoch "
    "milliseconds (`*_ms`). Which topic holds what: [topics](topics.md).")

TOPIC_OF: dict[str, str] = {
    "mention.v1": "On `mentions.raw`, keyed `platform:author id` of the customer (for a brand reply: of the author it replies to). What producers write: `mentionwatch ingest FILE` (one per line), `POST /mentions` (one, or a JSON list), the sources, or your own producer.",
    "enriched_mention.v1": "On `mentions.enriched` (the workers write it; `replay --source enriched` reads it).",
    "complaint_event.v1": "On `complaints.events`: one per transition (opened, due_soon, answered, overdue, ignore_soon, ignored, answered_late, corrected). At least once: consumers drop repeats by `event_id` (deterministic: `platform:mention_id:kind`).",
    "dead_letter.v1": "On `mentions.dlq`: input that could not be processed, with its original bytes, why, and where it came from.",
    "deletion.v1": "On `mentions.deletions`, keyed `platform:id`: a post a source produced was deleted on its platform.",
    "brand_config.v1": "On the compacted `mentionwatch.config`: the brand configuration a worker started with (the brands file's text), one record per version, so an audit can judge each mention by the version in force when it was made ([auditing](../how-to/audit-a-period.md)).",
    "source_cursor.v1": "On the compacted `mentionwatch.sources`, keyed by the source's `--name`: where a restart resumes.",
}

WIRE_NOTES: dict[str, str] = {
    "mention.v1": (
        "A brand's reply: `author.is_brand` true (or the handle is one of the brand's "
        "`accounts`), `in_reply_to` the id of the post it answers, and `in_reply_to_author_id` "
        "that post's author id (required for a brand reply: it routes the reply to the "
        "customer's partition; without it the reply is dead-lettered `unroutable`).\n\n"
        "```json\n"
        '{"schema_version": 1, "id": "1866001234567890999", "platform": "x", "brand": "acme",\n'
        ' "author": {"id": "2002", "handle": "AcmeHelp", "is_brand": true},\n'
        ' "text": "Sorry, Anna! We have booked you on the next train; details by DM.",\n'
        ' "created_at": "2026-12-03T10:42:00Z", "in_reply_to": "1866001234567890123",\n'
        ' "in_reply_to_author_id": "1001", "lang": "en"}\n'
        "```\n\n"
        "Sent over HTTP ([POST /mentions](http-api.md#post-mentions)):\n\n"
        "```console\n"
        "$ curl -s -w ' HTTP %{http_code}\\n' -H 'Content-Type: application/json' \\\n"
        "    -H \"Authorization: Bearer $MENTIONWATCH_INGEST_TOKEN\" \\\n"
        "    --data @mention.json http://127.0.0.1:6066/mentions\n"
        '{"accepted": 1, "rejected": 0} HTTP 202\n'
        "```\n\n"
        "A refused request (here: the same mention without `created_at`) writes nothing and "
        "says why, per item, with HTTP 400 (no mention text is echoed):\n\n"
        "```json\n"
        '{"error": "invalid_mentions", "detail": "1 of 1 mentions would be refused; nothing was '
        'written",\n'
        ' "accepted": 0, "rejected": 1, "errors": [{"index": 0, "reason": "schema_violation",\n'
        '   "field": "$.created_at", "detail": "is required"}]}\n'
        "```"),
}
