"""`mentionwatch worker`: build the pipeline from the settings and run the faust worker."""

from __future__ import annotations

import logging

from agents.config import Settings
from agents.metrics import Metrics
from streams.brands import BrandConfig, default_brand_config, parse_brand_config
from streams.classification import get_classifier


def load_brand_config(settings: Settings) -> BrandConfig:
    if settings.brands_file is None:
        return default_brand_config()
    path = settings.brands_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"MENTIONWATCH_BRANDS_FILE={path}: {exc.strerror}") from None
    return parse_brand_config(text, source=str(path))


def build_pipeline(settings: Settings):  # type: ignore[no-untyped-def]
    from agents.app import Pipeline

    brands = load_brand_config(settings)
    metrics = Metrics(brands.brands.keys())
    classifier = get_classifier(settings.classifier, threshold=settings.complaint_threshold)
    return Pipeline(settings=settings, brands=brands, classifier=classifier,
                    classifier_name=settings.classifier, metrics=metrics)


def run_worker(settings: Settings) -> None:
    import faust
    from prometheus_client import start_http_server

    from agents.topics import ensure_topics

    settings.home.mkdir(parents=True, exist_ok=True)  # faust creates only its own subdirectory
    for line in ensure_topics(settings):
        logging.getLogger("mentionwatch").info("topic %s", line)
    pipeline = build_pipeline(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host,
                          registry=pipeline.metrics.registry)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level)
    worker.execute_from_commandline()
