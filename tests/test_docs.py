"""The documentation stays true: the generated reference equals what the code generates now,
every relative link in the Markdown of README, docs/ and deploy/ resolves inside the repository
(file and #anchor), and every default a hand-written table gives for a setting equals the
code's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_prometheus_rules import github_anchors

REPO = Path(__file__).resolve().parents[1]
# The generator (tools/, not an installed package) imports from the repository's root, which
# `python -m pytest` puts on the path and the `pytest` script doesn't.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
REGENERATE = "./dev docs"
LINK_RE = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "deploy").rglob("*.md"))]
    return [f for f in files if f.exists()]


def links(markdown: str) -> list[str]:
    """Link targets outside code blocks and code spans."""
    out: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            out += LINK_RE.findall(re.sub(r"`[^`]*`", "", line))
    return out


def test_the_generated_reference_is_up_to_date() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.gen_docs", "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"docs/reference/ differs from what the code generates; run `{REGENERATE}` and commit "
        f"the result:\n{result.stderr}")


def test_the_generator_names_the_command_to_run() -> None:
    """A stale page makes --check say which file and the one command that fixes it."""
    from tools import gen_docs

    page = gen_docs.OUT / "settings.md"
    original = page.read_text(encoding="utf-8")
    try:
        page.write_text(original + "\nstale\n", encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "tools.gen_docs", "--check"], cwd=REPO,
                                capture_output=True, text=True, timeout=300, check=False)
    finally:
        page.write_text(original, encoding="utf-8")
    assert result.returncode == 1
    assert f"docs/reference/settings.md is out of date; run: {REGENERATE}" in result.stderr


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if REPO not in resolved.parents and resolved != REPO:
            broken.append(f"{target}: outside the repository")
            continue
        if not resolved.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and \
                anchor not in github_anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO)}")
    assert not broken, f"{path.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_docs_never_defer_to_files_outside_the_repository() -> None:
    offenders = [f"{p.relative_to(REPO)}: {line.strip()}"
                 for p in markdown_files()
                 for line in p.read_text(encoding="utf-8").splitlines()
                 if "SEMANTICS.md" in line]
    assert not offenders, "\n".join(offenders)


def documented_defaults() -> list[tuple[Path, str, str]]:
    """(file, variable, default) of each hand-written row `| `MENTIONWATCH_X` | default |`."""
    rows = []
    for path in markdown_files():
        if path.parent == REPO / "docs" / "reference" and \
                path.read_text(encoding="utf-8").startswith("<!-- Generated"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\| `(MENTIONWATCH_[A-Z0-9_]+)` \| ([^|]+) \|", line)
            if match:
                rows.append((path, match.group(1), match.group(2).strip()))
    return rows


def test_every_documented_default_is_the_codes() -> None:
    from tools import gen_docs

    # Read by mentionwatch, or (the links' bases) by Prometheus and Grafana through compose.
    code = {name: default for name, (default, _) in gen_docs.compose_variables().items()}
    code.update({name: (gen_docs.text.SETTING_DEFAULTS.get(name) or s.default or "none")
                 for name, s in gen_docs.scan_settings().items()})
    wrong = []
    for path, name, default in documented_defaults():
        if name not in code:
            wrong.append(f"{path.relative_to(REPO)}: {name} is not read by the code")
        elif default != code[name] and not default.startswith(code[name]):
            wrong.append(f"{path.relative_to(REPO)}: {name} documented as {default}, "
                         f"the code's default is {code[name]}")
    assert not wrong, "\n".join(wrong)


def test_the_settings_defaults_are_load_settings_defaults() -> None:
    """The generator reads defaults from the source; check a few against what load_settings
    really gives, so a default computed another way can't slip past it."""
    from agents.config import load_settings
    from tools import gen_docs

    settings = load_settings({})
    scanned = gen_docs.scan_settings()
    expect = {
        "MENTIONWATCH_PARTITIONS": settings.partitions,
        "MENTIONWATCH_WEB_PORT": settings.web_port,
        "MENTIONWATCH_METRICS_PORT": settings.metrics_port,
        "MENTIONWATCH_MAX_RECORD_BYTES": settings.max_record_bytes,
        "MENTIONWATCH_ALLOWED_LATENESS_SECONDS": int(settings.allowed_lateness_s),
        "MENTIONWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "MENTIONWATCH_LOG_LEVEL": settings.log_level,
    }
    for name, value in expect.items():
        assert scanned[name].default == f"`{value}`", name


def test_the_topics_page_lists_every_topic_the_code_creates() -> None:
    from agents.config import Settings
    from agents.topics import topic_names

    page = (REPO / "docs" / "reference" / "topics.md").read_text(encoding="utf-8")
    missing = [name for name in topic_names(Settings()) if f"| `{name}` |" not in page]
    assert not missing, f"docs/reference/topics.md has no row for {missing}"


def test_the_refused_request_example_is_what_the_server_says() -> None:
    """docs/reference/wire-formats.md shows a POST /mentions refusal; its per-item error is
    what the admission check gives for that mention, its detail the handler's wording."""
    import json

    from streams.admission import admit_batch
    from streams.brands import parse_brand_config
    from tools import reference_text

    mention = {k: v for k, v in reference_text.EXAMPLE_MENTION.items() if k != "created_at"}
    _, refusals = admit_batch([mention], produced_ms=1_764_756_000_000, max_record_bytes=65536,
                              max_future_ms=300_000, brands=parse_brand_config(""))
    page = (REPO / "docs" / "reference" / "wire-formats.md").read_text(encoding="utf-8")
    flat = " ".join(page.split())
    errors = json.dumps([r.as_json() for r in refusals])
    assert f'"errors": {errors}' in flat, errors
    handler = (REPO / "agents" / "web.py").read_text(encoding="utf-8")
    assert '"invalid_mentions", f"{len(refusals)} of {len(items)} mentions would be "' in handler
    assert '"refused; nothing was written", accepted=0, rejected=len(refusals)' in handler
