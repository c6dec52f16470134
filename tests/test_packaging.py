"""Promises the project makes in its files stay true: one Kafka version everywhere, the README's
two set-up commands, CI running the README's test command, the CLI's commands."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from agents.broker import KAFKA_VERSION, POM
from agents.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_kafka_version_is_the_same_in_pom_code_and_compose() -> None:
    pom = POM.read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom
    compose = (REPO / "docker-compose.yml").read_text()
    assert f"apache/kafka:{KAFKA_VERSION}" in compose


def test_readme_first_screen_has_exactly_two_setup_commands() -> None:
    first_screen = (REPO / "README.md").read_text().splitlines()[:45]
    commands = [line for line in first_screen if re.match(r"^\./dev \w+", line)]
    assert [c.split()[1] for c in commands] == ["demo", "test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "./dev test" in ci


def test_cli_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("broker", "topics", "worker", "ingest", "replay", "demo", "classify",
                    "eval-classifier"):
        assert re.search(rf"^\s+{command}\s", result.output, re.M), command


def test_bad_settings_give_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["topics", "create"],
                                env={"MENTIONWATCH_PARTITIONS": "six"})
    assert result.exit_code != 0
    assert "MENTIONWATCH_PARTITIONS='six' is not an integer" in result.output


def test_replay_rejects_a_bad_time_range() -> None:
    result = CliRunner().invoke(main, ["replay", "--from", "yesterday", "--to", "2026-01-01"])
    assert result.exit_code == 2
    assert "neither RFC 3339" in result.output


def test_replay_without_a_broker_says_so() -> None:
    # Nothing listens on port 9 (discard): the reader gives up after its metadata timeout.
    result = CliRunner().invoke(main, ["replay", "--from", "2026-01-01", "--to", "2026-02-01",
                                       "--no-progress"],
                                env={"MENTIONWATCH_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert result.exit_code == 1
    assert "cannot read the topics of the broker" in result.output
    assert "127.0.0.1:9" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_every_package_of_the_project_is_installed() -> None:
    """pyproject lists the packages by hand: a sub-package left out works in the editable dev
    install and is missing from the image (`mentionwatch source` failed to import there)."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts)
             for top in ("streams", "agents", "schemas")
             for init in (REPO / top).rglob("__init__.py")}
    assert found == listed
