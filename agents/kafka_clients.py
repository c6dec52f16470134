"""One place that turns Settings.kafka_security into each Kafka client library's options:
kafka-python (ingest, topic creation, the demo), aiokafka/faust (the worker) and confluent-kafka
(replay). Every client of the project takes its security options from here."""

from __future__ import annotations

from typing import Any

from agents.config import Settings


def kafka_python_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer/KafkaConsumer/KafkaAdminClient."""
    sec = settings.kafka_security
    options: dict[str, Any] = {"security_protocol": sec.protocol}
    if sec.uses_sasl:
        options.update(sasl_mechanism=sec.sasl_mechanism, sasl_plain_username=sec.username,
                       sasl_plain_password=sec.password)
    if sec.uses_tls:
        options.update(ssl_check_hostname=sec.ssl_check_hostname)
        if sec.ssl_cafile:
            options["ssl_cafile"] = str(sec.ssl_cafile)
        if sec.ssl_certfile and sec.ssl_keyfile:
            options.update(ssl_certfile=str(sec.ssl_certfile), ssl_keyfile=str(sec.ssl_keyfile))
            if sec.ssl_key_password:
                options["ssl_password"] = sec.ssl_key_password
    return options
