"""One place that turns Settings.kafka_security into each Kafka client library's options:
kafka-python (ingest, topic creation, the demo), aiokafka/faust (the worker) and confluent-kafka
(replay). Every client of the project takes its security options from here.

Secrets: the option mappings returned here hide the password in their repr, and every secret
handed out is registered with a log record factory that blanks it out of any log message (the
client libraries log their configuration at DEBUG: kafka-python's admin client does, password
included)."""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

from agents.config import KafkaSecurity, Settings

REDACTED = "***"

# Option names, across the three libraries, whose value is a secret.
SECRET_OPTIONS = frozenset({
    "sasl_plain_password", "ssl_password", "sasl.password", "ssl.key.password",
})


class ClientOptions(dict[str, Any]):
    """A client library's keyword options; repr (so any log of it) hides the secrets."""

    def __repr__(self) -> str:
        shown = {k: (REDACTED if k in SECRET_OPTIONS and v else v) for k, v in self.items()}
        return f"{type(self).__name__}({shown!r})"

    __str__ = __repr__


# -- secrets out of logs --------------------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_factory_installed = False


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _install_redacting_factory() -> None:
    """Wrap logging's record factory: a record whose message contains a registered secret gets
    the rendered message with the secret blanked out. Records are only built for enabled log
    levels, so this costs one string search per secret per emitted line."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: logging reports it itself later
                return record
            redacted = _redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def keep_secrets_out_of_logs(security: KafkaSecurity) -> None:
    """Register the settings' secrets for redaction in every log line of this process."""
    keep_out_of_logs(security.password, security.ssl_key_password)


def keep_out_of_logs(*secrets: str | None) -> None:
    """Register secrets (a Kafka password, a platform's access token) for redaction in every
    log line of this process."""
    found = [s for s in secrets if s]
    if not found:
        return
    with _secrets_lock:
        # Short secrets would blank out ordinary words; config refuses nothing that short for
        # a real deployment, but never redact a one- or two-letter string.
        _secrets.update(s for s in found if len(s) >= 3)
        _install_redacting_factory()


# -- kafka-python ---------------------------------------------------------------------------------

def kafka_python_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer/KafkaConsumer/KafkaAdminClient."""
    sec = settings.kafka_security
    keep_secrets_out_of_logs(sec)
    options = ClientOptions(security_protocol=sec.protocol)
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


# -- aiokafka and faust ---------------------------------------------------------------------------

def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of aiokafka (and so faust) clients: verifies the brokers against the CA
    file (or the system's CAs), presents the client certificate for mTLS. None without TLS."""
    if not security.uses_tls:
        return None
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH,
        cafile=str(security.ssl_cafile) if security.ssl_cafile else None)
    # Hostname checking off still verifies the chain (CERT_REQUIRED stays): for brokers whose
    # certificates name an internal host, never a way to accept any certificate.
    context.check_hostname = security.ssl_check_hostname
    if security.ssl_certfile and security.ssl_keyfile:
        context.load_cert_chain(str(security.ssl_certfile), str(security.ssl_keyfile),
                                password=security.ssl_key_password)
    return context


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaConsumer/AIOKafkaProducer (the offset guard's
    reader; faust's own clients get the same through faust_credentials)."""
    sec = settings.kafka_security
    keep_secrets_out_of_logs(sec)
    options = ClientOptions(security_protocol=sec.protocol)
    if sec.uses_sasl:
        options.update(sasl_mechanism=sec.sasl_mechanism, sasl_plain_username=sec.username,
                       sasl_plain_password=sec.password)
    context = ssl_context(sec)
    if context is not None:
        options["ssl_context"] = context
    return options


def faust_credentials(settings: Settings) -> Any:
    """faust's broker_credentials: SASLCredentials (PLAIN or SCRAM, with a TLS context for
    SASL_SSL) or SSLCredentials (TLS, mTLS); None for PLAINTEXT. faust 0.15.3 hands them to
    every aiokafka client it makes (consumer, producer, the topic-creating client) through
    credentials_to_aiokafka_auth; SASLCredentials' repr shows the user name only."""
    import faust

    sec = settings.kafka_security
    keep_secrets_out_of_logs(sec)
    context = ssl_context(sec)
    if sec.uses_sasl:
        # faust picks SASL_SSL when given a TLS context, SASL_PLAINTEXT otherwise.
        return faust.SASLCredentials(username=sec.username, password=sec.password,
                                     ssl_context=context, mechanism=sec.sasl_mechanism)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


# -- confluent-kafka (librdkafka) -----------------------------------------------------------------

def confluent_security(settings: Settings) -> dict[str, Any]:
    """librdkafka configuration properties, for confluent-kafka's Consumer/Producer/Admin."""
    sec = settings.kafka_security
    keep_secrets_out_of_logs(sec)
    options = ClientOptions({"security.protocol": sec.protocol.lower()})
    if sec.uses_sasl:
        options.update({"sasl.mechanism": sec.sasl_mechanism, "sasl.username": sec.username,
                        "sasl.password": sec.password})
    if sec.uses_tls:
        options["ssl.endpoint.identification.algorithm"] = (
            "https" if sec.ssl_check_hostname else "none")
        if sec.ssl_cafile:
            options["ssl.ca.location"] = str(sec.ssl_cafile)
        if sec.ssl_certfile and sec.ssl_keyfile:
            options["ssl.certificate.location"] = str(sec.ssl_certfile)
            options["ssl.key.location"] = str(sec.ssl_keyfile)
            if sec.ssl_key_password:
                options["ssl.key.password"] = sec.ssl_key_password
    return options


# -- telling an authentication failure from the rest ----------------------------------------------

AUTH_FAILURE_MARKERS = ("authentication failed", "authenticationfailed", "sasl authentication",
                        "invalid credentials", "sasl_authentication_failed",
                        "certificate verify failed", "ssl handshake", "handshake failed")


def is_auth_failure(error: BaseException | str) -> bool:
    """True when a client error says the broker refused our credentials or our TLS (rather
    than being unreachable): retrying can't help, the settings must change."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    lowered = text.lower()
    return any(marker in lowered for marker in AUTH_FAILURE_MARKERS)


def auth_failure_message(settings: Settings, detail: str) -> str:
    """What to tell the operator when the broker refused the credentials (no secret in it)."""
    sec = settings.kafka_security
    who = (f"user {sec.username!r} with {sec.sasl_mechanism}" if sec.uses_sasl
           else "the client certificate" if sec.ssl_certfile else "TLS")
    return (f"Kafka authentication failed at {settings.bootstrap_servers} ({sec.protocol}, "
            f"{who}): {_redact(detail)}. Check MENTIONWATCH_KAFKA_USERNAME, "
            "MENTIONWATCH_KAFKA_PASSWORD (or _FILE), MENTIONWATCH_KAFKA_SASL_MECHANISM and the "
            "MENTIONWATCH_KAFKA_SSL_* files")



def authentication_problem(settings: Settings, timeout_s: float = 10.0) -> str | None:
    """If the brokers refuse this client's credentials (or its TLS), the message saying so;
    None when they accept them or can't be reached at all. For error messages after a client
    gave up: kafka-python reports a refused SASL handshake only as a bootstrap timeout, while
    librdkafka names the reason, so this asks librdkafka."""
    sec = settings.kafka_security
    if not (sec.uses_sasl or sec.uses_tls):
        return None
    import time

    from confluent_kafka import Consumer, KafkaException

    errors: list[str] = []
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": "mentionwatch-auth-probe",
                         "client.id": "mentionwatch-auth-probe",
                         **confluent_security(settings),
                         "error_cb": lambda err: errors.append(str(err)), "log_level": 0})
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                consumer.list_topics(timeout=1.0)
                return None
            except KafkaException:
                consumer.poll(0)  # librdkafka hands errors to error_cb only from poll
            refused = next((e for e in errors if is_auth_failure(e)), None)
            if refused is not None:
                return auth_failure_message(settings, refused)
    finally:
        consumer.close()
    return None
