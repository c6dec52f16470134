"""The `mentionwatch` command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from agents.config import ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _classifier(settings: Settings, model: Path | None = None) -> tuple[Any, str]:
    """The classifier to use (--model PATH, else MENTIONWATCH_CLASSIFIER) and the name its
    records carry; one `Error:` line and exit 2 when it can't be used."""
    from agents.classifier_setting import load_classifier, model_classifier

    try:
        return (model_classifier(model, settings) if model is not None
                else load_classifier(settings))
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mentionwatch")
def main() -> None:
    """mentionwatch: measure whether brands answer public complaints, live and auditable."""


@main.group()
def broker() -> None:
    """Run a local Apache Kafka broker (KRaft, single node) under MENTIONWATCH_HOME."""


@broker.command("start")
def broker_start() -> None:
    """Start the broker (idempotent); returns when it accepts clients."""
    from agents import broker as b

    try:
        click.echo(b.start(_settings()))
    except b.BrokerError as exc:
        raise click.ClickException(str(exc)) from None


@broker.command("stop")
def broker_stop() -> None:
    """Stop the broker cleanly."""
    from agents import broker as b

    click.echo(b.stop(_settings()))


@broker.command("status")
def broker_status() -> None:
    """Say what runs where (exit 1 when the broker is not running)."""
    from agents import broker as b

    ok, text = b.status(_settings())
    click.echo(text)
    sys.exit(0 if ok else 1)


@main.group()
def topics() -> None:
    """Manage the topics."""


def _topics_create_help() -> str:
    from agents.topics import topic_names

    names = topic_names(Settings())
    return (f"Create the {len(names)} topics ({', '.join(names)}; each with "
            "MENTIONWATCH_TOPIC_PREFIX in front) with the replication and retention of the "
            "settings, and report existing topics that differ from them. faust creates its "
            "own (the table's changelog, the assignor's leader topic) when a worker starts.")


@topics.command("create", help=_topics_create_help())
@click.option("--apply-config", is_flag=True,
              help="Also change existing topics whose retention, min.insync.replicas or "
              "size limits differ from the settings (without it they are only reported). "
              "A shorter retention lets the broker delete older records.")
def topics_create(apply_config: bool) -> None:
    from agents.topics import TopicError, ensure_topics

    try:
        for line in ensure_topics(_settings(), apply_config=apply_config):
            click.echo(line)
    except TopicError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def worker() -> None:
    """Run a worker (enrich, complaint tracking, metrics, HTTP ingest)."""
    from agents.topics import TopicError
    from agents.worker import run_worker

    settings = _settings()
    try:
        run_worker(settings)
    except ConfigError as exc:  # a bad brands file, another installation's state directory
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except TopicError as exc:  # the broker unreachable, refusing us, or the topics unusable
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "twcs"]), default="jsonl",
              show_default=True, help="jsonl: mention.v1 per line; twcs: Customer Support on "
              "Twitter CSV.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Write rejected lines here, verbatim, to fix and re-ingest.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--ack-timeout", type=click.FloatRange(min=1), default=150.0, show_default=True,
              metavar="SECONDS", help="How long to wait at the end for the broker's "
              "acknowledgements; lines still unacknowledged then are reported (and written to "
              "--rejects), exit 1.")
def ingest(file: Path, fmt: str, rejects: Path | None, no_progress: bool,
           ack_timeout: float) -> None:
    """Validate mentions from FILE and produce them to mentions.raw."""
    from kafka.errors import KafkaError

    from agents.ingest import ingest_jsonl
    from agents.topics import KafkaAuthError

    settings = _settings()
    try:
        if fmt == "twcs":
            from agents.ingest import ingest_twcs

            result = ingest_twcs(settings, file, progress=not no_progress,
                                 ack_timeout_s=ack_timeout)
        else:
            result = ingest_jsonl(settings, file, rejects_path=rejects,
                                  progress=not no_progress, ack_timeout_s=ack_timeout)
    except (ConfigError, KafkaAuthError) as exc:  # KafkaAuthError: nothing was sent
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:  # nothing was sent: the producer could not reach the broker
        raise click.ClickException(f"cannot reach the broker at {settings.bootstrap_servers} "
                                   f"(MENTIONWATCH_BOOTSTRAP_SERVERS): {exc}") from None
    click.echo(result.summary())
    sys.exit(1 if result.rejected else 0)


@main.group()
def source() -> None:
    """Read a platform's public posts about the configured brands into mentions.raw (long
    running; resumes from its cursor in Kafka after a restart)."""


def _source_config_error(message: str) -> NoReturn:
    """A source's configuration can't work: one `Error:` line, exit 2 (as a worker's)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _source_settings() -> tuple[Settings, Any]:
    from agents.worker import load_brand_config

    try:
        settings = load_settings()
        return settings, load_brand_config(settings)
    except ConfigError as exc:
        _source_config_error(str(exc))


def _run_source(run: Callable[[], None], settings: Settings) -> None:
    """Errors as one line: exit 2 for configuration, 1 for the broker or the platform."""
    from kafka.errors import KafkaError

    from agents.sources.runtime import SourceError
    from agents.topics import KafkaAuthError, TopicError

    try:
        run()
    except (ConfigError, KafkaAuthError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except (SourceError, TopicError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KafkaError as exc:
        click.echo(f"Error: cannot reach the broker at {settings.bootstrap_servers} "
                   f"(MENTIONWATCH_BOOTSTRAP_SERVERS): {exc}", err=True)
        sys.exit(1)


def _since_ms(value: str | None) -> int | None:
    if value is None:
        return None
    from agents.replay import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@source.command("bluesky")
@click.option("--name", default="bluesky", show_default=True,
              help="The source's name: its cursor's key in Kafka and its metrics' label.")
@click.option("--endpoint", envvar="MENTIONWATCH_BLUESKY_ENDPOINT",
              default="wss://jetstream2.us-east.bsky.network", show_default=True,
              help="Jetstream instance (env MENTIONWATCH_BLUESKY_ENDPOINT).")
@click.option("--since", default=None, help="First start only: read from this time (RFC 3339 "
              "or YYYY-MM-DD; Jetstream keeps about 36 h) instead of from now.")
@click.option("--metrics-port", type=click.IntRange(min=0), default=9110, show_default=True,
              envvar="MENTIONWATCH_SOURCE_METRICS_PORT", help="0: no metrics server.")
def source_bluesky(name: str, endpoint: str, since: str | None, metrics_port: int) -> None:
    """Bluesky posts that mention, reply to, quote or tag a brand, and the brand's replies,
    from Jetstream."""
    from agents.sources.bluesky import BlueskyOptions, run_bluesky
    from streams.sources.matching import BrandIndex

    settings, config = _source_settings()
    index = BrandIndex.from_config(config)
    if not (index.bluesky_dids or index.hashtags or index.keywords):
        _source_config_error("no brand has Bluesky DIDs, hashtags or keywords in the brands "
                             "file: nothing to watch (docs/how-to/connect-sources.md)")
    since_ms = _since_ms(since)
    options = BlueskyOptions(name=name, endpoint=endpoint, metrics_port=metrics_port,
                             since_us=since_ms * 1000 if since_ms is not None else None)
    _run_source(lambda: run_bluesky(settings, config, options), settings)


@source.command("mastodon")
@click.option("--instance", envvar="MENTIONWATCH_MASTODON_INSTANCE", required=True,
              help="The brand account's instance, e.g. https://social.example (env "
              "MENTIONWATCH_MASTODON_INSTANCE).")
@click.option("--account", envvar="MENTIONWATCH_MASTODON_ACCOUNT", required=True,
              help="The brand's account, user@instance, as in the brands file (env "
              "MENTIONWATCH_MASTODON_ACCOUNT). Its token comes from MENTIONWATCH_MASTODON_TOKEN "
              "or MENTIONWATCH_MASTODON_TOKEN_FILE (scope read).")
@click.option("--name", default="mastodon", show_default=True,
              help="The source's name: its cursor's key in Kafka and its metrics' label (one "
              "per account).")
@click.option("--streaming-url", envvar="MENTIONWATCH_MASTODON_STREAMING_URL", default=None,
              help="Default: the instance's own (from /api/v2/instance).")
@click.option("--since", default=None, help="First start only: catch up from this time (RFC "
              "3339 or YYYY-MM-DD) instead of from now.")
@click.option("--metrics-port", type=click.IntRange(min=0), default=9111, show_default=True,
              envvar="MENTIONWATCH_SOURCE_METRICS_PORT", help="0: no metrics server.")
def source_mastodon(instance: str, account: str, name: str, streaming_url: str | None,
                    since: str | None, metrics_port: int) -> None:
    """Mentions of the brand's Mastodon account, its own replies, and statuses with the
    brands' hashtags, streamed and caught up over REST after every (re)connect."""
    import os

    from agents.config import _secret
    from agents.sources.mastodon import MastodonOptions, run_mastodon

    settings, config = _source_settings()
    try:
        token = _secret(dict(os.environ), "MENTIONWATCH_MASTODON_TOKEN")
    except ConfigError as exc:
        _source_config_error(str(exc))
    if not token:
        _source_config_error("set MENTIONWATCH_MASTODON_TOKEN or "
                             "MENTIONWATCH_MASTODON_TOKEN_FILE (the brand account's access "
                             "token, scope read)")
    if not instance.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https://", param_hint="--instance")
    options = MastodonOptions(instance=instance, account=account, token=token, name=name,
                              streaming_url=streaming_url, since_ms=_since_ms(since),
                              metrics_port=metrics_port)
    _run_source(lambda: run_mastodon(settings, config, options), settings)


def _time_range(from_: str, to: str) -> tuple[int, int]:
    """--from and --to in epoch ms; a usage error (exit 2) for a bad or empty range."""
    from agents.replay import parse_time

    try:
        from_ms, to_ms = parse_time(from_), parse_time(to)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if to_ms <= from_ms:
        raise click.BadParameter("--to must be after --from")
    return from_ms, to_ms


@main.command()
@click.option("--from", "from_", required=True, help="Start of the event-time range (RFC 3339 "
              "or YYYY-MM-DD), inclusive.")
@click.option("--to", "to", required=True, help="End of the event-time range, exclusive.")
@click.option("--brand", default=None, help="Only this brand.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "md", "html"]), default="md",
              show_default=True, help="html: one self-contained page with charts, readable "
              "offline and printable.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report here (default: stdout).")
@click.option("--source", type=click.Choice(["raw", "enriched"]), default="raw",
              show_default=True,
              help="raw: classify mentions.raw again with the configured classifier (the audit "
              "record, independent of the workers). enriched: use the classification the "
              "workers recorded in mentions.enriched (many times faster).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes sharing the topic's partitions (default: one per CPU). The "
              "report is the same for any number.")
@click.option("--by", type=click.Choice(["day", "week", "month"]), default=None,
              help="Also give each brand's figures per period of the mentions' creation (UTC; "
              "ISO weeks from Monday), each decided with every record of the range.")
@click.option("--with-answered-ids", is_flag=True,
              help="Also list the ids of the mentions answered in time (ignored, answered-late "
              "and open ids are always listed).")
@click.option("--brands-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Judge every mention with this brands file instead of the configurations "
              "the workers recorded (each mention judged with the one in force when it was "
              "created); the report names it as an override.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def replay(from_: str, to: str, brand: str | None, fmt: str, output: Path | None, source: str,
           workers: int | None, by: str | None, with_answered_ids: bool,
           brands_file: Path | None, no_progress: bool) -> None:
    """Audit an event-time range: the same core as the live workers, judged by the event-time
    watermark only, so the same records always give the same report."""
    from agents.replay import ReplayError, judging_configuration, run_replay

    settings = _settings()
    from_ms, to_ms = _time_range(from_, to)
    classifier, classifier_name = _classifier(settings)
    try:
        judging = judging_configuration(settings, brands_file, from_ms, to_ms)
        if judging.note:
            click.echo(f"Note: {judging.note}", err=True)
        report, stats = run_replay(settings, judging.config, classifier, classifier_name,
                                   from_ms=from_ms, to_ms=to_ms, brand=brand, fmt=fmt,
                                   progress=not no_progress, source=source, workers=workers,
                                   by=by, answered_ids=with_answered_ids,
                                   configuration=judging.provenance)
    except (ConfigError, ReplayError) as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(report, nl=False)
    else:
        output.write_text(report, encoding="utf-8")
    rate = stats.read / stats.seconds if stats.seconds else 0.0
    click.echo(f"replayed {stats.read} records of {stats.source} ({stats.in_range} in range, "
               f"{stats.invalid} invalid, {stats.future_dated} future-dated, "
               f"{stats.unroutable} unroutable, {stats.attributed} attributed, "
               f"{stats.unattributed} unattributed) in {stats.seconds:.2f}s "
               f"({rate:,.0f} records/s, {stats.workers} "
               f"{'process' if stats.workers == 1 else 'processes'})"
               + (f"; {stats.moved} handed between processes" if stats.workers > 1 else ""),
               err=True)


@main.command()
@click.option("--rate", type=float, default=8.0, show_default=True,
              help="Demo mentions per second.")
@click.option("--count", type=int, default=None, help="Stop after this many (default: run "
              "until Ctrl-C).")
def demo(rate: float, count: int | None) -> None:
    """Start the broker and a worker, feed a generated German/English demo stream for fictional
    brands, and print what the pipeline sees. Ctrl-C stops everything."""
    from agents.demo import run_demo

    sys.exit(run_demo(_settings(), rate=rate, count=count))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                default="-")
@click.option("--lang", default=None, help="Language hint (de, en) for every text.")
@click.option("--field", "text_field", default="text", show_default=True,
              help="For JSON lines input: the field holding the text.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A model file from `mentionwatch train` (default: MENTIONWATCH_CLASSIFIER).")
def classify(file: str, lang: str | None, text_field: str, model: Path | None) -> None:
    """Classify texts (plain lines or JSON lines) from FILE or stdin; one JSON object per line."""
    from agents.classify_cli import classify_lines

    backend, _name = _classifier(_settings(), model)
    try:
        with click.open_file(file, "r", encoding="utf-8") as handle:
            classify_lines(handle, sys.stdout, text_field=text_field, lang=lang,
                           classifier=backend)
    except (ConfigError, ValueError) as exc:  # a bad --lang or MENTIONWATCH_* setting
        raise click.ClickException(str(exc)) from None


@main.command("eval-classifier")
@click.option("--airline", type=click.Path(path_type=Path), default=None,
              help="Airline tweets CSV (default ../shared/data/airline/dev.csv).")
@click.option("--germeval", type=click.Path(path_type=Path), default=None,
              help="GermEval 2017 TSV (default ../shared/data/germeval2017/dev.tsv).")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="A labelled file (CSV or JSON lines, as for `train`) "
              "instead of the shared dev sets; repeatable.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Measure this model file (default: MENTIONWATCH_CLASSIFIER).")
@click.option("--cv", type=click.IntRange(min=2), default=None, metavar="K",
              help="Instead: K-fold cross-validation of a model trained on each data set, "
              "next to the lexicon and the majority label.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_classifier(airline: Path | None, germeval: Path | None, labels: tuple[Path, ...],
                    model: Path | None, cv: int | None, as_json: bool) -> None:
    """Measure the classifier against the majority-class and VADER baselines (or, with --cv,
    how well a model trained on the data does on texts it did not see)."""
    from agents import eval_classifier as ev
    from agents.labels import LabelError

    if cv is not None and model is not None:
        raise click.BadParameter("--cv trains its own models: give --model or --cv, not both")
    backend = None if cv is not None else _classifier(_settings(), model)[0]
    try:
        ev.main(airline=airline, germeval=germeval, as_json=as_json, classifier=backend, cv=cv,
                labels=labels)
    except (LabelError, ValueError, OSError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@main.command("train")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the model file (replaced atomically).")
@click.option("--cv", type=click.IntRange(min=0), default=5, show_default=True, metavar="K",
              help="Folds of the cross-validation printed first (0: none).")
def train(labels: Path, out: Path, cv: int) -> None:
    """Fit a complaint/sentiment/relevance model on your labelled mentions (CSV or JSON lines:
    text, sentiment and/or complaint, optional relevant, lang, id) and write it to --out."""
    from datetime import UTC, datetime

    from agents.brand_versions import mentionwatch_version
    from agents.labels import LabelError, read_labels
    from agents.train_cli import (
        cross_validate,
        format_cv_table,
        label_counts,
        train_model,
        write_model_atomically,
    )

    try:
        label_set = read_labels(labels)
        examples = label_set.examples
        counts = ", ".join(f"{task} " + " ".join(f"{k} {v}" for k, v in values.items())
                           for task, values in label_counts(examples).items())
        click.echo(f"{len(examples)} labelled examples ({counts}); "
                   f"{label_set.unlabelled} rows without a label skipped", err=True)
        if cv:
            click.echo(format_cv_table({labels.name: cross_validate(examples, cv)}))
        model = train_model(examples, trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
                            source=labels.name, mentionwatch_version=mentionwatch_version())
        write_model_atomically(model, out)
    except (LabelError, ValueError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    for task, why in model.training.get("not_learnt", {}).items():
        click.echo(f"Note: not learnt: {task} ({why})", err=True)
    click.echo(f"wrote {model.name} to {out} (sha256 {model.sha256}); use it with "
               f"MENTIONWATCH_CLASSIFIER=model:{out.resolve()}")


@main.command("label-sample")
@click.option("--from", "from_", required=True, help="Start of the event-time range (RFC 3339 "
              "or YYYY-MM-DD), inclusive.")
@click.option("--to", "to", required=True, help="End of the event-time range, exclusive.")
@click.option("--n", "count", type=click.IntRange(min=1), required=True,
              help="How many mentions to export.")
@click.option("--random-share", type=click.FloatRange(0.0, 1.0), default=0.2,
              show_default=True, help="Share of the N drawn at random (the rest: those the "
              "classifier is least sure of), so the labels also show the usual mentions.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random draw (the same seed and records: the same sample).")
@click.option("--brand", default=None, help="Only this brand.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Judge uncertainty with this model (default: MENTIONWATCH_CLASSIFIER).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The CSV to write (id, brand, platform, created_at, lang, text and empty "
              "sentiment, complaint, relevant columns).")
def label_sample(from_: str, to: str, count: int, random_share: float, seed: int,
                 brand: str | None, model: Path | None, out: Path) -> None:
    """Export the customers' mentions of a time range of mentions.enriched that most need a
    label: those the classifier is least sure of, plus a random share, as a CSV to label and
    give to `mentionwatch train`."""
    from agents.label_sample import SampleError, run_label_sample

    settings = _settings()
    from_ms, to_ms = _time_range(from_, to)
    classifier, _name = _classifier(settings, model)
    try:
        summary = run_label_sample(settings, classifier, from_ms=from_ms, to_ms=to_ms, n=count,
                                   random_share=random_share, seed=seed, brand=brand, out=out)
    except SampleError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    click.echo(summary, err=True)


if __name__ == "__main__":
    main()
