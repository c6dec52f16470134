"""The local broker's and the log's settings: a bad value is one clear error naming the
variable (docs/reference/settings.md promises it for every setting), never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.config import ConfigError, load_settings


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MENTIONWATCH_KAFKA_CONTROLLER_PORT", "abc", "is not a port number"),
    ("MENTIONWATCH_KAFKA_CONTROLLER_PORT", "70000", "between 1 and 65535"),
    ("MENTIONWATCH_KAFKA_HEAP", "lots", "is not a JVM heap size"),
    ("MENTIONWATCH_KAFKA_HEAP", "1 g", "is not a JVM heap size"),
    ("MENTIONWATCH_LOG_LEVEL", "loud", "must be one of debug, info"),
])
def test_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({name: value})
    assert str(exc.value).startswith(f"{name}=")
    assert message in str(exc.value)


def test_good_values_pass() -> None:
    settings = load_settings({"MENTIONWATCH_KAFKA_CONTROLLER_PORT": "19093",
                              "MENTIONWATCH_KAFKA_HEAP": "512m",
                              "MENTIONWATCH_LOG_LEVEL": "WARNING"})
    assert settings.log_level == "warning"


def test_cli_says_it_in_one_line_without_a_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "agents.cli", "broker", "status"],
                            env={"MENTIONWATCH_KAFKA_CONTROLLER_PORT": "abc", "PATH": "/usr/bin"},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == \
        "Error: MENTIONWATCH_KAFKA_CONTROLLER_PORT='abc' is not a port number"


def test_topics_create_help_lists_every_topic_it_creates() -> None:
    from agents.config import Settings
    from agents.topics import topic_names

    result = subprocess.run([sys.executable, "-m", "agents.cli", "topics", "create", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    text = " ".join(result.stdout.split())
    names = topic_names(Settings())
    assert f"Create the {len(names)} topics" in text
    for name in names:
        assert name in text
