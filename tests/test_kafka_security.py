"""Kafka security settings become the right options for each client library (kafka-python,
aiokafka/faust, confluent-kafka), and no secret reaches a repr or a log line. No broker: the
libraries' own option handling is exercised where it runs without one."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agents.config import Settings, load_settings
from agents.kafka_clients import (
    aiokafka_security,
    auth_failure_message,
    confluent_security,
    faust_credentials,
    is_auth_failure,
    kafka_python_security,
    keep_secrets_out_of_logs,
    ssl_context,
)

PASSWORD = "pw-7c1f9e2b-do-not-log"
KEY_PASSWORD = "keypw-55aa-do-not-log"


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate/key (the key encrypted with KEY_PASSWORD), by openssl."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=test-ca")
    run("req", "-newkey", "rsa:2048", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=client", "-passout", f"pass:{KEY_PASSWORD}")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.pem", "-days", "2")
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}


def _sasl_ssl(pems: dict[str, Path], mechanism: str = "SCRAM-SHA-512", **extra: str
              ) -> Settings:
    return load_settings({
        "MENTIONWATCH_BOOTSTRAP_SERVERS": "broker-1.example:9096",
        "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MENTIONWATCH_KAFKA_SASL_MECHANISM": mechanism,
        "MENTIONWATCH_KAFKA_USERNAME": "mentionwatch",
        "MENTIONWATCH_KAFKA_PASSWORD": PASSWORD,
        "MENTIONWATCH_KAFKA_SSL_CAFILE": str(pems["ca"]),
        **extra,
    })


def _mtls(pems: dict[str, Path]) -> Settings:
    return load_settings({
        "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
        "MENTIONWATCH_KAFKA_SSL_CAFILE": str(pems["ca"]),
        "MENTIONWATCH_KAFKA_SSL_CERTFILE": str(pems["cert"]),
        "MENTIONWATCH_KAFKA_SSL_KEYFILE": str(pems["key"]),
        "MENTIONWATCH_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
    })


def test_plaintext_is_plain_for_every_library() -> None:
    s = load_settings({})
    assert kafka_python_security(s) == {"security_protocol": "PLAINTEXT"}
    assert aiokafka_security(s) == {"security_protocol": "PLAINTEXT"}
    assert confluent_security(s) == {"security.protocol": "plaintext"}
    assert faust_credentials(s) is None
    assert ssl_context(s.kafka_security) is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_maps_to_each_library(pems: dict[str, Path], mechanism: str) -> None:
    s = _sasl_ssl(pems, mechanism)
    kp = kafka_python_security(s)
    assert kp == {"security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
                  "sasl_plain_username": "mentionwatch", "sasl_plain_password": PASSWORD,
                  "ssl_check_hostname": True, "ssl_cafile": str(pems["ca"])}
    ck = confluent_security(s)
    assert ck == {"security.protocol": "sasl_ssl", "sasl.mechanism": mechanism,
                  "sasl.username": "mentionwatch", "sasl.password": PASSWORD,
                  "ssl.endpoint.identification.algorithm": "https",
                  "ssl.ca.location": str(pems["ca"])}
    ak = aiokafka_security(s)
    assert {k: v for k, v in ak.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
        "sasl_plain_username": "mentionwatch", "sasl_plain_password": PASSWORD}
    context = ak["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # The CA file was loaded (the system's CAs are not: only the one we named).
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_faust_credentials_reach_aiokafka_as_sasl_ssl(pems: dict[str, Path]) -> None:
    """faust 0.15.3 supports SCRAM: the credentials go through faust's own mapping to aiokafka
    unchanged, and aiokafka accepts them (it validates the combination when constructed)."""
    import aiokafka
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        credentials = faust_credentials(_sasl_ssl(pems, mechanism))
        auth = credentials_to_aiokafka_auth(credentials)
        assert auth["security_protocol"] == "SASL_SSL"
        assert auth["sasl_mechanism"] == mechanism
        assert auth["sasl_plain_username"] == "mentionwatch"
        assert auth["sasl_plain_password"] == PASSWORD
        assert isinstance(auth["ssl_context"], ssl.SSLContext)
        assert PASSWORD not in repr(credentials)

        async def construct(options: Any) -> Any:
            return aiokafka.AIOKafkaClient(bootstrap_servers="127.0.0.1:1", **options)

        client = asyncio.run(construct(auth))
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == mechanism


def test_mtls_loads_the_encrypted_client_key(pems: dict[str, Path]) -> None:
    s = _mtls(pems)
    kp = kafka_python_security(s)
    assert kp["ssl_certfile"] == str(pems["cert"]) and kp["ssl_keyfile"] == str(pems["key"])
    assert kp["ssl_password"] == KEY_PASSWORD
    ck = confluent_security(s)
    assert (ck["ssl.certificate.location"], ck["ssl.key.location"], ck["ssl.key.password"]) == (
        str(pems["cert"]), str(pems["key"]), KEY_PASSWORD)
    # The context really holds the key: ssl raises if the password were wrong.
    assert isinstance(ssl_context(s.kafka_security), ssl.SSLContext)
    from faust import SSLCredentials

    credentials = faust_credentials(s)
    assert isinstance(credentials, SSLCredentials)
    bad = load_settings({**{f"MENTIONWATCH_KAFKA_{k}": str(v) for k, v in (
        ("SECURITY_PROTOCOL", "SSL"), ("SSL_CAFILE", pems["ca"]),
        ("SSL_CERTFILE", pems["cert"]), ("SSL_KEYFILE", pems["key"]),
        ("SSL_KEY_PASSWORD", "wrong-password"))}})
    with pytest.raises(ssl.SSLError):
        ssl_context(bad.kafka_security)


def test_hostname_check_off_still_verifies_the_chain(pems: dict[str, Path]) -> None:
    s = _sasl_ssl(pems, MENTIONWATCH_KAFKA_SSL_CHECK_HOSTNAME="false")
    context = ssl_context(s.kafka_security)
    assert context is not None
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert kafka_python_security(s)["ssl_check_hostname"] is False
    assert confluent_security(s)["ssl.endpoint.identification.algorithm"] == "none"


def test_confluent_kafka_accepts_the_configuration(pems: dict[str, Path]) -> None:
    """librdkafka checks every property name and value when the client is created."""
    from confluent_kafka import Consumer

    for settings in (_sasl_ssl(pems), _sasl_ssl(pems, "PLAIN"), _mtls(pems)):
        consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "x",
                             **confluent_security(settings)})
        consumer.close()


def test_no_secret_in_any_repr(pems: dict[str, Path]) -> None:
    for s in (_sasl_ssl(pems), _mtls(pems)):
        for options in (kafka_python_security(s), aiokafka_security(s), confluent_security(s)):
            shown = repr(options) + str(options) + f"{options}"
            assert PASSWORD not in shown and KEY_PASSWORD not in shown
            if any(v in (PASSWORD, KEY_PASSWORD) for v in options.values()):
                assert "***" in shown  # the option is there, shown blanked
        assert PASSWORD not in repr(faust_credentials(s))
        assert PASSWORD not in repr(s) and KEY_PASSWORD not in repr(s)


def test_no_secret_in_any_log_line(pems: dict[str, Path], caplog: pytest.LogCaptureFixture
                                   ) -> None:
    """The client libraries log their configuration at DEBUG (kafka-python's admin client does,
    password included): every line is redacted once the settings' secrets are handed out."""
    from kafka import KafkaAdminClient

    s = _sasl_ssl(pems, MENTIONWATCH_BOOTSTRAP_SERVERS="127.0.0.1:1")
    caplog.set_level(logging.DEBUG)
    options = kafka_python_security(s)
    with pytest.raises(Exception):  # noqa: B017 - nothing listens there; we want the log lines
        KafkaAdminClient(bootstrap_servers="127.0.0.1:1", request_timeout_ms=300,
                         api_version_auto_timeout_ms=300, **options)
    logging.getLogger("mentionwatch.test").info("configured with %s and %r", PASSWORD, options)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "sasl_plain_password" in text  # the library did log its configuration
    assert PASSWORD not in text
    assert "configured with ***" in text


def test_short_secrets_are_not_redacted_everywhere() -> None:
    from agents.config import KafkaSecurity

    keep_secrets_out_of_logs(KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="PLAIN",
                                           username="u", password="a"))
    record = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "a cat", None, None)
    assert record.getMessage() == "a cat"


@pytest.mark.parametrize("error, expected", [
    ("KafkaError: SaslAuthenticationFailedError: Authentication failed during authentication "
     "due to invalid credentials with SASL mechanism SCRAM-SHA-512", True),
    ("SASL authentication error: Authentication failed during authentication due to invalid "
     "credentials with SASL mechanism SCRAM-SHA-512 (after 4ms in state AUTH_REQ)", True),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", True),
    ("KafkaConnectionError: Unable to bootstrap from [('127.0.0.1', 1)]", False),
    ("NoBrokersAvailable", False),
])
def test_auth_failures_are_told_from_unreachable_brokers(error: str, expected: bool) -> None:
    assert is_auth_failure(error) is expected


def test_the_auth_failure_message_names_the_settings_not_the_secret(pems: dict[str, Path]
                                                                     ) -> None:
    s = _sasl_ssl(pems)
    keep_secrets_out_of_logs(s.kafka_security)
    text = auth_failure_message(s, f"refused (password was {PASSWORD})")
    assert "authentication failed" in text.lower()
    assert "user 'mentionwatch' with SCRAM-SHA-512" in text
    assert "MENTIONWATCH_KAFKA_PASSWORD" in text and PASSWORD not in text


def test_the_pipeline_wires_replication_credentials_and_idempotence(pems: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    """The faust app gets the replication factor, the credentials, an idempotent acks=all
    producer and min.insync.replicas on its changelog topic (built without a broker)."""
    from agents.worker import build_pipeline

    s = load_settings({"MENTIONWATCH_HOME": str(tmp_path), "MENTIONWATCH_STORE": "memory://",
                       "MENTIONWATCH_REPLICATION_FACTOR": "3",
                       "MENTIONWATCH_MIN_INSYNC_REPLICAS": "2",
                       "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                       "MENTIONWATCH_KAFKA_USERNAME": "mentionwatch",
                       "MENTIONWATCH_KAFKA_PASSWORD": PASSWORD,
                       "MENTIONWATCH_KAFKA_SSL_CAFILE": str(pems["ca"])})
    pipeline = build_pipeline(s)
    app: Any = pipeline.app
    assert app.conf.topic_replication_factor == 3
    assert app.conf.broker_credentials.mechanism.value == "SCRAM-SHA-512"
    changelogs = [t.changelog_topic for t in app.tables.values()]
    assert changelogs and all(t.config["min.insync.replicas"] == "2" for t in changelogs)
    settings = {**app.producer._settings_default(), **app.producer._settings_auth(),
                **app.producer._settings_extra()}
    assert settings["enable_idempotence"] is True and settings["acks"] == "all"
    assert settings["security_protocol"] == "SASL_SSL"
    assert settings["sasl_plain_password"] == PASSWORD


def test_replay_names_a_refused_login_even_when_all_brokers_down_came_after_it() -> None:
    # Seen in CI: librdkafka reported the SASL refusal, then "3/3 brokers are down"; the
    # message named only the last error, an unreachable broker.
    from agents.replay import _Reader

    reader = _Reader("127.0.0.1:1", None)
    try:
        reader.errors += [
            'KafkaError{code=_AUTHENTICATION,val=-169,str="sasl://127.0.0.1:1/bootstrap: SASL '
            'authentication error: Authentication failed during authentication due to invalid '
            'credentials with SASL mechanism SCRAM-SHA-512"}',
            'KafkaError{code=_ALL_BROKERS_DOWN,val=-187,str="1/1 brokers are down"}']
        message = str(reader.fail("cannot read the topics of the broker"))
    finally:
        reader.close()
    assert "refused the credentials" in message
    assert "invalid credentials" in message and "brokers are down" not in message
