"""Settings that guard security and data lifetime: wrong combinations fail at load with a message
naming the variable, and secrets never appear in a repr (which is what ends up in logs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.config import DAY_MS, ConfigError, load_settings


def test_defaults_are_the_local_single_broker() -> None:
    s = load_settings({})
    assert s.kafka_security.protocol == "PLAINTEXT"
    assert (s.replication_factor, s.min_insync_replicas) == (1, 1)
    assert s.raw_retention_ms == 400 * DAY_MS and s.dlq_retention_ms == 30 * DAY_MS
    assert s.ingest_token is None


def test_sasl_needs_credentials_and_defaults_to_scram_512() -> None:
    with pytest.raises(ConfigError, match="MENTIONWATCH_KAFKA_USERNAME"):
        load_settings({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    s = load_settings({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                       "MENTIONWATCH_KAFKA_USERNAME": "mw",
                       "MENTIONWATCH_KAFKA_PASSWORD": "hunter2-but-longer"})
    assert s.kafka_security.sasl_mechanism == "SCRAM-SHA-512"
    assert s.kafka_security.uses_tls and s.kafka_security.uses_sasl


@pytest.mark.parametrize("env, message", [
    ({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "must be one of"),
    ({"MENTIONWATCH_KAFKA_USERNAME": "mw"}, "need MENTIONWATCH_KAFKA_SECURITY_PROTOCOL"),
    ({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "MENTIONWATCH_KAFKA_USERNAME": "u",
      "MENTIONWATCH_KAFKA_PASSWORD": "p", "MENTIONWATCH_KAFKA_SASL_MECHANISM": "GSSAPI"},
     "must be one of"),
    ({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
      "MENTIONWATCH_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "not a readable file"),
    ({"MENTIONWATCH_REPLICATION_FACTOR": "1", "MENTIONWATCH_MIN_INSYNC_REPLICAS": "2"},
     "can't exceed"),
    ({"MENTIONWATCH_RAW_RETENTION_DAYS": "0"}, "positive number of days"),
    ({"MENTIONWATCH_INGEST_TOKEN": "short"}, "at least 16"),
])
def test_unusable_combinations_fail_naming_the_variable(env: dict[str, str], message: str
                                                        ) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_secrets_come_from_files_and_never_reach_a_repr(tmp_path: Path) -> None:
    password, token = tmp_path / "password", tmp_path / "token"
    password.write_text("kafka-secret-123\n")
    token.write_text("ingest-token-abcdefgh\n")
    s = load_settings({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                       "MENTIONWATCH_KAFKA_USERNAME": "mw",
                       "MENTIONWATCH_KAFKA_PASSWORD_FILE": str(password),
                       "MENTIONWATCH_INGEST_TOKEN_FILE": str(token)})
    assert s.kafka_security.password == "kafka-secret-123"
    assert s.ingest_token == "ingest-token-abcdefgh"
    assert "kafka-secret-123" not in repr(s) and "ingest-token" not in repr(s)
    with pytest.raises(ConfigError, match="not both"):
        load_settings({"MENTIONWATCH_INGEST_TOKEN": "x" * 20,
                       "MENTIONWATCH_INGEST_TOKEN_FILE": str(token)})


def test_an_unreadable_secret_file_names_the_variable_not_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MENTIONWATCH_KAFKA_PASSWORD_FILE") as raised:
        load_settings({"MENTIONWATCH_KAFKA_PASSWORD_FILE": str(tmp_path / "missing")})
    assert "can't be read" in str(raised.value)


def test_retention_forever_is_kafkas_minus_one() -> None:
    s = load_settings({"MENTIONWATCH_RAW_RETENTION_DAYS": "forever",
                       "MENTIONWATCH_DLQ_RETENTION_DAYS": "7"})
    assert s.raw_retention_ms == -1 and s.dlq_retention_ms == 7 * DAY_MS
