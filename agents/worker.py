"""`mentionwatch worker`: build the pipeline from the settings and run the faust worker."""

from __future__ import annotations

import logging

from agents.classifier_setting import load_classifier
from agents.config import ConfigError, Settings
from agents.metrics import Metrics
from schemas.codec import format_rfc3339_ms
from streams.brands import BrandConfig

# Repeated log messages (a reconnect loop with the broker down) once per this many seconds.
LOG_REPEAT_INTERVAL_S = 30.0


def load_brand_config(settings: Settings) -> BrandConfig:
    """The brands file's configuration (or the default). Raises ConfigError, naming the file,
    for one that can't be read or isn't valid."""
    from agents.brand_versions import read_brands_file

    return read_brands_file(settings).config


def build_pipeline(settings: Settings,  # type: ignore[no-untyped-def]
                   brands: BrandConfig | None = None):
    from agents.app import Pipeline

    if brands is None:
        brands = load_brand_config(settings)
    metrics = Metrics(brands.brands.keys(), settings.platforms, settings.public_url)
    classifier, classifier_name = load_classifier(settings)  # the enriched records' name
    return Pipeline(settings=settings, brands=brands, classifier=classifier,
                    classifier_name=classifier_name, metrics=metrics)


def _early_logging(settings: Settings, limiter: logging.Filter) -> None:
    """Logging until faust's worker sets up its own (it replaces the root handlers): our own
    warnings at start (a dirty state directory) get a level and a time stamp."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] "
                                           "%(name)s: %(message)s"))
    handler.addFilter(limiter)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        root.setLevel(settings.log_level.upper())
    except ValueError:
        root.setLevel(logging.INFO)


def run_worker(settings: Settings) -> None:
    """Run the faust worker until a stop signal (SIGTERM, SIGINT, SIGHUP) or a crash.

    Raises ConfigError when the HTTP ingest would be reachable from other machines without a
    token, StateDirError (a ConfigError) when the state directory belongs to another
    installation or another running worker; ends with faust's SystemExit otherwise."""
    from prometheus_client import start_http_server

    from agents.brand_versions import (
        mentionwatch_version,
        read_brands_file,
        record_brand_config,
    )
    from agents.lifecycle import GracefulWorker, SignalGate, StopRequested, StopWatchdog
    from agents.log_limits import RepeatLimiter
    from agents.state_dir import open_state_dir
    from agents.topics import ensure_topics
    from agents.web_policy import exposure_problem

    problem = exposure_problem(settings)  # before anything else: no broker, no state touched
    if problem is not None:
        raise ConfigError(problem)
    load_classifier(settings)  # a bad MENTIONWATCH_CLASSIFIER stops us here, touching nothing
    log = logging.getLogger("mentionwatch")
    gate = SignalGate(StopWatchdog(settings.stop_timeout_s))
    gate.install()
    limiter = RepeatLimiter(interval_s=LOG_REPEAT_INTERVAL_S)
    _early_logging(settings, limiter)
    settings.home.mkdir(parents=True, exist_ok=True)
    state = None
    try:
        state = open_state_dir(settings)  # before faust opens any table
        for line in ensure_topics(settings):
            log.info("topic %s", line)
        brands = read_brands_file(settings)
        recorded = record_brand_config(settings, brands, mentionwatch_version())
        if recorded.written is not None:
            log.info("brand configuration %s (%s) recorded on %s, in force from %s",
                     recorded.written.sha256[:12], brands.source, settings.topic_brand_config,
                     format_rfc3339_ms(recorded.written.effective_ms))
        if len(recorded.versions) > 1:
            log.info("%d brand configurations recorded: each mention is judged with the one in "
                     "force when it was created", len(recorded.versions))
        pipeline = build_pipeline(settings, recorded.judging(brands.config))
        if settings.metrics_port:
            start_http_server(settings.metrics_port, addr=settings.metrics_host,
                              registry=pipeline.metrics.registry)
        worker = GracefulWorker(pipeline.app, gate=gate, log_filters=(limiter,),
                                loglevel=settings.log_level)
    except BaseException as exc:
        # faust has not opened a table yet: the state directory is as clean as we found it (or
        # freshly emptied), whatever stopped us.
        if state is not None:
            state.mark_clean_stop()
        if isinstance(exc, StopRequested):
            log.info("%s", exc)
            return
        raise
    gate.enter_worker()
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        gate.ignore_from_now()
        clean, why = worker.stopped_cleanly(exit_.code)
        if clean:
            state.mark_clean_stop()
            log.info("worker stopped cleanly; local table state is trusted at the next start")
        else:
            log.warning("worker did not stop cleanly (%s): the next start restores its tables "
                        "from the changelog", why)
        limiter.flush()
        raise
