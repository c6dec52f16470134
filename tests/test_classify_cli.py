"""`mentionwatch classify` decides `complaint` with MENTIONWATCH_COMPLAINT_THRESHOLD, as the
worker does; a bad value is one clear line, not a traceback."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from agents.classify_cli import classify_lines
from agents.cli import main
from agents.config import ConfigError

TEXT = "the train was late"  # complaint_score about 0.79 with the lexicon


def _classified(text: str) -> dict[str, object]:
    out = io.StringIO()
    classify_lines(io.StringIO(text + "\n"), out)
    record: dict[str, object] = json.loads(out.getvalue())
    return record


def test_threshold_decides_the_complaint_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MENTIONWATCH_COMPLAINT_THRESHOLD", raising=False)
    default = _classified(TEXT)
    score = default["complaint_score"]
    assert isinstance(score, float) and 0.5 < score < 0.95
    assert default["complaint"] is True
    monkeypatch.setenv("MENTIONWATCH_COMPLAINT_THRESHOLD", "0.95")
    strict = _classified(TEXT)
    assert strict["complaint"] is False and strict["complaint_score"] == score
    monkeypatch.setenv("MENTIONWATCH_COMPLAINT_THRESHOLD", "0.0")
    assert _classified("thanks, great crew!")["complaint"] is True


def test_bad_threshold_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad, message in (("1.5", "between 0 and 1"), ("high", "is not a number")):
        monkeypatch.setenv("MENTIONWATCH_COMPLAINT_THRESHOLD", bad)
        with pytest.raises(ConfigError, match=message):
            _classified(TEXT)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("1.5", "MENTIONWATCH_COMPLAINT_THRESHOLD must be between 0 and 1"),
        ("lots", "MENTIONWATCH_COMPLAINT_THRESHOLD='lots' is not a number"),
    ],
)
def test_cli_bad_threshold_is_one_line(value: str, line: str) -> None:
    result = CliRunner().invoke(
        main, ["classify", "-"], input=TEXT + "\n",
        env={"MENTIONWATCH_COMPLAINT_THRESHOLD": value},
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {line}\n"  # nothing classified, no traceback


def test_cli_honours_threshold() -> None:
    runner = CliRunner()
    lenient = runner.invoke(main, ["classify", "-"], input=TEXT + "\n",
                            env={"MENTIONWATCH_COMPLAINT_THRESHOLD": "0.5"})
    strict = runner.invoke(main, ["classify", "-"], input=TEXT + "\n",
                           env={"MENTIONWATCH_COMPLAINT_THRESHOLD": "0.95"})
    assert lenient.exit_code == strict.exit_code == 0
    assert json.loads(lenient.output)["complaint"] is True
    assert json.loads(strict.output)["complaint"] is False


def test_cli_bad_lang_is_one_line() -> None:
    result = CliRunner().invoke(main, ["classify", "--lang", "fr", "-"], input=TEXT + "\n")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --lang must be de or en, got 'fr'"
