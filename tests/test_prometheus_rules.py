"""Static and unit checks of the alerting side: Prometheus rules and their promtool unit tests,
the Prometheus and Alertmanager configs, and the PromQL in the Grafana dashboard and the
Grafana-managed alert rules.

These run the real tools (promtool, amtool) that deploy/install-debian-packages.sh installs from
Debian's prometheus and prometheus-alertmanager packages. A missing tool is a failure, not a skip:
a check that did not run proves nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROM_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules" / "mentionwatch.rules.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.test.yml"))
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mentionwatch.json"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_ALERTING = sorted((DEPLOY / "grafana" / "provisioning" / "alerting").glob("*.yml"))
RUNBOOKS_DOC = ROOT / "docs" / "how-to" / "runbooks.md"
COMPOSE = ROOT / "docker-compose.yml"
# The default bases of the alerts' links (the rules' "else" branches; docker-compose.yml's
# defaults of MENTIONWATCH_DOCS_URL, MENTIONWATCH_PUBLIC_URL and MENTIONWATCH_GRAFANA_URL).
DEFAULT_DOCS_URL = "https://github.com/mentionwatch/mentionwatch/blob/main/docs"
DEFAULT_PUBLIC_URL = "http://localhost:6066"
DEFAULT_GRAFANA_URL = "http://localhost:3000"
DASHBOARD_UID = "mentionwatch-overview"


def link_base(external_label: str, default: str) -> str:
    """A Prometheus template: the external label's value, or the default without it."""
    return (f"{{{{ with $externalLabels.{external_label} }}}}{{{{ . }}}}{{{{ else }}}}{default}"
            "{{ end }}")


RUNBOOK_BASE = link_base("mentionwatch_docs_url", DEFAULT_DOCS_URL) + "/how-to/runbooks.md#"
QUEUE_URL = (link_base("mentionwatch_public_url", DEFAULT_PUBLIC_URL)
             + "/queue?brand={{ $labels.brand | urlquery }}")
DASHBOARD_URL = (link_base("mentionwatch_grafana_url", DEFAULT_GRAFANA_URL)
                 + f"/d/{DASHBOARD_UID}/mentionwatch?var-brand={{{{ $labels.brand | urlquery }}}}")
GRAFANA_RUNBOOK_BASE = "${MENTIONWATCH_DOCS_URL}/how-to/runbooks.md#"
GRAFANA_QUEUE_URL = "${MENTIONWATCH_PUBLIC_URL}/queue?brand={{ .Labels.brand | urlquery }}"

# What the exporter exports (issue 5; docs/reference/metrics.md). Rules, dashboard and
# Grafana alerts may use only these (histograms with their _bucket/_count/_sum series).
EXPORTED_METRICS = {
    "mentionwatch_mentions_total",
    "mentionwatch_complaints_total",
    "mentionwatch_complaints_answered_total",
    "mentionwatch_complaints_answered_late_total",
    "mentionwatch_complaints_answered_within_sla_total",
    "mentionwatch_complaints_ignored_total",
    "mentionwatch_complaint_corrections_total",
    "mentionwatch_dead_letters_total",
    "mentionwatch_complaints_open",
    "mentionwatch_complaints_overdue",
    "mentionwatch_complaints_due_soon",
    "mentionwatch_complaints_ignore_soon",
    "mentionwatch_oldest_open_complaint_created_timestamp_seconds",
    "mentionwatch_complaints_decided_window",
    "mentionwatch_complaints_ignored_window",
    "mentionwatch_brand_sla_seconds",
    "mentionwatch_brand_ignore_after_seconds",
    "mentionwatch_last_processed_timestamp_seconds",
    "mentionwatch_consumer_lag_records",
    "mentionwatch_records_processed_total",
    "mentionwatch_offset_gaps_total",
    "mentionwatch_offset_gap_records_total",
    "mentionwatch_offset_gap_records_unread_total",
    "mentionwatch_events_resent_total",
    "mentionwatch_build_info",
    "mentionwatch_public_url_info",
    # The sources' (agents/sources/runtime.py SourceMetrics).
    "mentionwatch_source_connected",
    "mentionwatch_source_gaps_total",
}
EXPORTED_HISTOGRAMS = {"mentionwatch_first_response_seconds"}
EXPORTED_SERIES = EXPORTED_METRICS | {
    h + suffix for h in EXPORTED_HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")
}

# Grafana's built-in variables, replaced by valid PromQL before promtool sees an expression.
GRAFANA_BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed. Run deploy/install-debian-packages.sh (installs Debian's "
            "prometheus and prometheus-alertmanager packages: promtool, amtool); these checks "
            "never skip."
        )
    return path


def run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def rule_groups() -> list[dict]:
    return load_yaml(RULES)["groups"]


def alert_rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def recording_rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "record" in r]


def duration_seconds(text: str | None) -> int:
    if not text:
        return 0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return int(sum(int(n) * units[u] for n, u in parts))


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub generates for the headings of a Markdown file."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"`([^`]*)`", r"\1", m.group(1))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    # Explicit anchors: <a id="..."></a> / <a name="...">
    anchors.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", markdown))
    return anchors


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every PromQL target of the dashboard, and the selectors of its
    label_values() variable queries."""
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('title')!r} target {t.get('refId')}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "")
        if m:
            out.append((f"variable {var['name']!r}", m.group(1)))
        elif q and q.startswith("query_result("):
            out.append((f"variable {var['name']!r}", q[len("query_result(") : -1]))
    return out


def grafana_alert_exprs() -> list[tuple[str, str]]:
    out = []
    for path in GRAFANA_ALERTING:
        doc = load_yaml(path) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                for q in rule.get("data", []):
                    if q.get("datasourceUid") == "__expr__":
                        continue
                    out.append((f"{path.name}: {rule['title']!r} {q['refId']}", q["model"]["expr"]))
    return out


def substitute_grafana_variables(expr: str, where: str) -> str:
    def builtin_or_var(name: str) -> str:
        return GRAFANA_BUILTINS.get(name, "x")

    expr = re.sub(r"\$\{(\w+)(?::[^}]*)?\}", lambda m: builtin_or_var(m.group(1)), expr)
    expr = re.sub(r"\[\[(\w+)(?::[^\]]*)?\]\]", lambda m: builtin_or_var(m.group(1)), expr)
    expr = re.sub(r"\$(\w+)", lambda m: builtin_or_var(m.group(1)), expr)
    assert "$" not in expr, f"{where}: unreplaced variable in {expr!r}"
    return expr


def promtool_check_exprs(exprs: list[tuple[str, str]], tmp_path: Path, name: str) -> None:
    """Wrap expressions in a rules file as recording rules and let promtool parse them."""
    assert exprs, f"no PromQL found for {name}"
    mapping = {}
    rules = []
    for i, (where, expr) in enumerate(exprs):
        record = f"grafana_check:expr_{i}:promql"
        mapping[record] = (where, expr)
        rules.append({"record": record, "expr": substitute_grafana_variables(expr, where)})
    path = tmp_path / f"{name}.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}, sort_keys=False))
    result = run([tool("promtool"), "check", "rules", str(path)])
    if result.returncode != 0:
        # Find the culprits one by one for a readable message.
        bad = []
        for record, (where, expr) in mapping.items():
            single = tmp_path / "single.rules.yml"
            single.write_text(
                yaml.safe_dump(
                    {
                        "groups": [
                            {
                                "name": "one",
                                "rules": [
                                    {
                                        "record": record,
                                        "expr": substitute_grafana_variables(expr, where),
                                    }
                                ],
                            }
                        ]
                    }
                )
            )
            r = run([tool("promtool"), "check", "rules", str(single)])
            if r.returncode != 0:
                bad.append(f"{where}: {expr}\n  {r.stdout.strip()} {r.stderr.strip()}")
        details = "\n".join(bad) or result.stdout + result.stderr
        pytest.fail(f"invalid PromQL in {name}:\n{details}")


# --- Prometheus -----------------------------------------------------------------------------


def test_prometheus_config_is_valid_and_loads_the_rules():
    result = run([tool("promtool"), "check", "config", str(PROM_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_yaml(PROM_CONFIG)
    matched = set()
    for pattern in config["rule_files"]:
        matched.update(p.resolve() for p in PROM_CONFIG.parent.glob(pattern))
    assert RULES.resolve() in matched, f"rule_files {config['rule_files']} do not load {RULES}"
    jobs = {j["job_name"] for j in config["scrape_configs"]}
    assert "mentionwatch" in jobs, 'the rules select job="mentionwatch"'


def test_promtool_check_rules():
    result = run([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    assert RULE_TESTS, "no deploy/prometheus/tests/*.test.yml"
    result = run([tool("promtool"), "test", "rules", *map(str, RULE_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_recording_rules_follow_the_naming_convention_and_are_unit_tested():
    tested = ""
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            tested += " ".join(t["expr"] for t in test.get("promql_expr_test", [])) + "\n"
    names = [r["record"] for r in recording_rules()]
    assert len(names) == len(set(names)), "duplicate recording rule"
    for name in names:
        assert re.fullmatch(r"[a-z_]+:mentionwatch_[a-z0-9_]+:[a-z0-9_]+", name), (
            f"{name}: recording rules are named level:metric:operations"
        )
        assert re.search(re.escape(name) + r"(?![\w:])", tested), (
            f"recording rule {name} has no promql_expr_test in deploy/prometheus/tests/"
        )


def test_rules_read_recordings_only_from_their_own_group():
    # Groups are evaluated independently and in no fixed order: a rule reading another group's
    # recording sees it one evaluation late, or on time, depending on the run (flaky "for"
    # boundaries in the unit tests, an evaluation of delay in production).
    for group in rule_groups():
        own = {r["record"] for r in group["rules"] if "record" in r}
        for rule in group["rules"]:
            for ref in re.findall(r"[a-z_]+:mentionwatch_[a-z0-9_]+:[a-z0-9_]+", rule["expr"]):
                assert ref in own, (
                    f"{rule.get('alert') or rule.get('record')} reads {ref} from another group"
                )


def test_alerts_have_severity_summary_description_and_a_runbook_that_exists():
    anchors = github_anchors(RUNBOOKS_DOC.read_text(encoding="utf-8"))
    alerts = alert_rules()
    assert {a["alert"] for a in alerts} >= {
        "MentionwatchComplaintPastSLA",
        "MentionwatchIgnoredShareHigh",
        "MentionwatchPipelineStalled",
        "MentionwatchDeadLettersIncreasing",
    }
    for a in alerts:
        name = a["alert"]
        assert a.get("labels", {}).get("severity") in {"critical", "warning", "info"}, name
        assert a.get("labels", {}).get("team") in {"care", "ops"}, name
        ann = a.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert ann.get(key), f"{name}: annotation {key} missing"
        # The docs base from the external label mentionwatch_docs_url (MENTIONWATCH_DOCS_URL),
        # the repository's docs without it; never a hard-coded base alone.
        url = ann["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), f"{name}: runbook_url {url}"
        anchor = url[len(RUNBOOK_BASE) :]
        assert anchor == name.lower(), f"{name}: runbook anchor should be #{name.lower()}"
        assert anchor in anchors, f"{name}: docs/how-to/runbooks.md has no heading for #{anchor}"


def test_care_alerts_link_to_the_queue_of_their_brand_and_the_dashboard():
    care = [a for a in alert_rules() if a["labels"]["team"] == "care"]
    assert care
    for a in care:
        ann = a["annotations"]
        assert ann.get("queue_url") == QUEUE_URL, f"{a['alert']}: queue_url {ann.get('queue_url')}"
        assert ann.get("dashboard_url") == DASHBOARD_URL, a["alert"]
        assert "brand" in a["expr"] and "by (brand" in a["expr"], (
            f"{a['alert']}: a care alert keeps the brand label (its queue link filters by it)")
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["uid"] == DASHBOARD_UID, "dashboard_url names the dashboard by its uid"
    assert "brand" in {v["name"] for v in dash["templating"]["list"]}


def test_the_link_bases_are_prometheus_external_labels_from_the_compose_settings():
    """prometheus.yml expands MENTIONWATCH_*_URL into the external labels the rules read, and
    compose's defaults are the rules' defaults (the links look the same with or without)."""
    external = load_yaml(PROM_CONFIG)["global"]["external_labels"]
    assert external == {
        "mentionwatch_public_url": "${MENTIONWATCH_PUBLIC_URL}",
        "mentionwatch_grafana_url": "${MENTIONWATCH_GRAFANA_URL}",
        "mentionwatch_docs_url": "${MENTIONWATCH_DOCS_URL}",
    }
    rules_text = RULES.read_text(encoding="utf-8")
    for label in external:
        assert f"$externalLabels.{label}" in rules_text, f"no rule uses {label}"
    compose = load_yaml(COMPOSE)["services"]
    # In compose the queue is worker-1's web server as published on the host (6166; 6066 is
    # the local stack's worker, the rules' own fallback).
    defaults = {"MENTIONWATCH_PUBLIC_URL": "http://localhost:6166",
                "MENTIONWATCH_GRAFANA_URL": DEFAULT_GRAFANA_URL,
                "MENTIONWATCH_DOCS_URL": DEFAULT_DOCS_URL}
    for service in ("prometheus", "grafana"):
        env = compose[service]["environment"]
        for name, default in defaults.items():
            assert env.get(name) == f"${{{name}:-{default}}}", (service, name, env.get(name))


def test_complaint_sla_alert_keeps_the_brand_and_fires_quickly():
    # The end-to-end alert test uses a test SLA of seconds: no long windows, a short "for".
    (rule,) = [a for a in alert_rules() if a["alert"] == "MentionwatchComplaintPastSLA"]
    assert duration_seconds(rule.get("for")) <= 60
    assert not re.search(r"\[\d+[smhdwy]\]", rule["expr"]), "no range windows: resolves promptly"
    assert "by (brand, platform)" in rule["expr"]
    assert "keep_firing_for" not in rule


def test_every_alert_is_unit_tested_at_its_for_boundary():
    """For each alert, a test group has it not firing one evaluation before an evaluation where
    it fires (the "for" boundary, or the first evaluation for alerts without "for")."""
    boundaries: dict[str, list[str]] = {a["alert"]: [] for a in alert_rules()}
    for path in RULE_TESTS:
        doc = load_yaml(path)
        step = duration_seconds(doc.get("evaluation_interval", "1m"))
        for test in doc["tests"]:
            firing: dict[str, set[int]] = {}
            quiet: dict[str, set[int]] = {}
            for case in test.get("alert_rule_test", []):
                t = duration_seconds(case["eval_time"])
                bucket = firing if case.get("exp_alerts") else quiet
                bucket.setdefault(case["alertname"], set()).add(t)
            for name, times in firing.items():
                for t in times:
                    if t - step in quiet.get(name, set()):
                        boundaries.setdefault(name, []).append(f"{path.name}: {test['name']}")
    missing = [name for name, where in boundaries.items() if not where]
    assert not missing, f"no test has these quiet one evaluation before firing: {missing}"
    for a in alert_rules():
        assert a["alert"] in boundaries


def test_rules_dashboard_and_grafana_alerts_use_only_exported_metrics_and_known_recordings():
    records = {r["record"] for r in recording_rules()}
    sources = {
        RULES.name: RULES.read_text(encoding="utf-8"),
        DASHBOARD.name: "\n".join(e for _, e in dashboard_exprs()),
        "grafana alerting": "\n".join(e for _, e in grafana_alert_exprs()),
    }
    # Rules: only the expressions, not the comments.
    sources[RULES.name] = "\n".join(r["expr"] for g in rule_groups() for r in g["rules"])
    for where, text in sources.items():
        for metric in re.findall(r"(?<![\w:])mentionwatch_[a-z0-9_]+(?![\w:])", text):
            assert metric in EXPORTED_SERIES, f"{where}: {metric} is not exported"
        for record in re.findall(r"(?<![\w:])[a-z_]+:mentionwatch_[a-z0-9_]+:[a-z0-9_]+", text):
            assert record in records, f"{where}: recording rule {record} does not exist"


# --- Grafana --------------------------------------------------------------------------------


def grafana_datasource_uids() -> set[str]:
    return {d["uid"] for d in load_yaml(GRAFANA_DATASOURCES)["datasources"]}


def dashboard_variables() -> dict[str, dict]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def test_dashboard_json_is_valid_and_every_panel_has_a_promql_target():
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    # Every query goes to the data source the datasource variable picks: the dashboard imports
    # into any Grafana, whatever its data sources are called.
    uids = {"${datasource}"}
    assert dash.get("uid") and dash.get("title")
    panels = [p for p in dash["panels"] if p.get("type") != "row"]
    assert len(panels) >= 10
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel id"
    for p in panels:
        title = p.get("title")
        targets = p.get("targets") or []
        assert targets, f"panel {title!r} has no target"
        for t in targets:
            assert t.get("expr", "").strip(), f"panel {title!r} target {t.get('refId')} has no expr"
            ds = t.get("datasource") or p.get("datasource")
            assert ds and ds.get("uid") in uids, f"panel {title!r}: datasource {ds} not provisioned"
    # No two panels overlap on the 24-column grid.
    cells: dict[tuple[int, int], str] = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"panel {p.get('title')!r} off the grid"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                other = cells.get((x, y))
                assert other is None, f"panels {other!r} and {p.get('title')!r} overlap"
                cells[(x, y)] = p.get("title")


def test_dashboard_promql_is_valid(tmp_path):
    promtool_check_exprs(dashboard_exprs(), tmp_path, "dashboard")


def test_dashboard_imports_anywhere_datasource_and_job_are_variables():
    text = DASHBOARD.read_text(encoding="utf-8")
    variables = dashboard_variables()
    ds = variables.get("datasource")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus"
    for uid in grafana_datasource_uids():
        assert uid not in text, f"the dashboard names the provisioned data source {uid}"
    for name, var in variables.items():
        if var["type"] == "query":
            assert var["datasource"]["uid"] == "${datasource}", name
    job = variables.get("job")
    assert job and job["type"] == "query" and "label_values(" in job["definition"]
    assert re.search(r",\s*job\s*\)$", job["definition"]), job["definition"]
    for where, expr in dashboard_exprs():
        if where == "variable 'job'":
            continue
        assert 'job="mentionwatch"' not in expr, f"{where}: use the job variable"
        # Every selector of a mentionwatch series (and up) selects the chosen job.
        for m in re.finditer(r"\b(mentionwatch_[a-z0-9_]+|up)\b(\{[^}]*\})?", expr):
            assert m.group(2) and 'job=~"$job"' in m.group(2), f"{where}: {m.group(0)}"


CARE_ROWS = ("Complaints waiting for an answer", "First response", "Mentions")


def dashboard_panels_by_row() -> list[tuple[str, dict]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out, row = [], ""
    for p in sorted(dash["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        if p["type"] == "row":
            row = p["title"]
        else:
            out.append((row, p))
    return out


def test_care_panels_leave_out_unconfigured_brands_and_other_platforms():
    variables = dashboard_variables()
    # The brand list: the SLA gauge, which only configured brands have.
    assert "mentionwatch_brand_sla_seconds" in variables["brand"]["definition"]
    assert "_other" in variables["platform"]["regex"]
    care = [p for row, p in dashboard_panels_by_row() if row in CARE_ROWS]
    assert len(care) >= 10
    for p in care:
        for t in p["targets"]:
            for m in re.finditer(r"\b(mentionwatch_[a-z0-9_]+)\{([^}]*)\}", t["expr"]):
                metric, selector = m.groups()
                if metric.startswith("mentionwatch_brand_"):
                    continue  # configuration gauges: configured brands only, no platform
                assert 'brand!="_unconfigured"' in selector, f"{p['title']}: {m.group(0)}"
                assert 'platform!="_other"' in selector, f"{p['title']}: {m.group(0)}"


def test_oldest_open_panels_compare_with_each_brands_sla():
    panels = [p for _, p in dashboard_panels_by_row() if "Oldest open" in p["title"]]
    assert len(panels) >= 2
    for p in panels:
        (t,) = p["targets"]
        assert "mentionwatch_oldest_open_complaint_created_timestamp_seconds" in t["expr"]
        assert "/ on (brand)" in t["expr"] and "mentionwatch_brand_sla_seconds" in t["expr"]
        defaults = p["fieldConfig"]["defaults"]
        assert defaults["unit"] == "percentunit"
        steps = [s["value"] for s in defaults["thresholds"]["steps"]]
        assert steps == [None, 0.75, 1], f"{p['title']}: thresholds {steps}"


def test_care_rates_are_per_hour_or_day_and_sla_attainment_has_a_panel():
    for row, p in dashboard_panels_by_row():
        if row not in CARE_ROWS:
            continue
        for t in p["targets"]:
            assert "rate(" not in t["expr"].replace("increase(", ""), (
                f"{p['title']}: care leads read counts per hour or day, not per second")
    attainment = [p for _, p in dashboard_panels_by_row()
                  if any("answered_within_sla" in t["expr"] for t in p["targets"])]
    assert len(attainment) >= 2


def test_dashboard_links_to_the_queue():
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = dashboard_variables()
    public = variables["public_url"]
    assert "mentionwatch_public_url_info" in public["definition"] and public["hide"] == 2
    assert any(link["url"] == "${public_url}/queue" for link in dash["links"])
    per_brand = json.dumps(dash["panels"])
    assert "${public_url}/queue?brand=${__value.raw}" in per_brand  # the per-brand table
    assert "${public_url}/queue?brand=${__field.labels.brand}" in per_brand


def test_grafana_alert_promql_is_valid(tmp_path):
    promtool_check_exprs(grafana_alert_exprs(), tmp_path, "grafana_alerting")


def test_grafana_alert_rules_are_well_formed():
    uids = grafana_datasource_uids()
    anchors = github_anchors(RUNBOOKS_DOC.read_text(encoding="utf-8"))
    contact_points, policy_receivers, rule_uids = set(), set(), []
    for path in GRAFANA_ALERTING:
        doc = load_yaml(path) or {}
        assert doc.get("apiVersion") == 1, path
        for cp in doc.get("contactPoints", []):
            contact_points.add(cp["name"])
        for policy in doc.get("policies", []):
            policy_receivers.add(policy["receiver"])
            policy_receivers.update(r["receiver"] for r in policy.get("routes", []))
        for group in doc.get("groups", []):
            assert group.get("folder") and group.get("interval"), group.get("name")
            for rule in group["rules"]:
                title = rule["title"]
                rule_uids.append(rule["uid"])
                refs = {q["refId"] for q in rule["data"]}
                assert rule["condition"] in refs, f"{title}: condition not among {refs}"
                for q in rule["data"]:
                    source = q["datasourceUid"]
                    assert source in uids | {"__expr__"}, f"{title}: unknown datasource {source}"
                    if q["datasourceUid"] == "__expr__":
                        assert q["model"]["expression"] in refs, title
                assert rule["noDataState"] in {"OK", "NoData", "Alerting", "KeepLast"}, title
                assert rule["execErrState"] in {"OK", "Error", "Alerting", "KeepLast"}, title
                duration_seconds(rule["for"])
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}, title
                url = rule["annotations"]["runbook_url"]
                assert (url.startswith(GRAFANA_RUNBOOK_BASE)
                        and url[len(GRAFANA_RUNBOOK_BASE) :] in anchors), (
                    f"{title}: runbook {url} has no heading in docs/how-to/runbooks.md"
                )
                if rule["labels"].get("team") == "care":
                    assert rule["annotations"].get("queue_url") == GRAFANA_QUEUE_URL, title
    assert len(rule_uids) == len(set(rule_uids)), "duplicate Grafana rule uid"
    assert rule_uids, "no Grafana-managed alert rules"
    assert contact_points and policy_receivers <= contact_points, (
        f"policies route to {policy_receivers}, contact points are {contact_points}"
    )


def test_grafana_routes_care_and_ops_alerts_to_different_contact_points():
    """Like deploy/alertmanager/alertmanager.yml: team=care and team=ops each reach their own
    contact point; every Grafana rule carries one of the two."""
    (policy,) = [
        p for path in GRAFANA_ALERTING for p in (load_yaml(path) or {}).get("policies", [])
    ]
    receivers = {}
    for route in policy.get("routes", []):
        for label, op, value in route.get("object_matchers", []):
            if label == "team" and op == "=":
                receivers[value] = route["receiver"]
    assert set(receivers) == {"care", "ops"}, receivers
    assert receivers["care"] != receivers["ops"]
    assert policy["receiver"] == receivers["ops"], "unlabelled alerts go to ops, as in Alertmanager"
    for path in GRAFANA_ALERTING:
        for group in (load_yaml(path) or {}).get("groups", []):
            for rule in group["rules"]:
                assert rule["labels"].get("team") in receivers, rule["title"]


def test_grafana_alerting_files_have_no_dollar_except_environment_references():
    # Grafana expands $NAME and ${NAME} in provisioning files: a template's $labels would be
    # replaced by an empty environment variable. Only ${UPPER_CASE} references are allowed.
    for path in GRAFANA_ALERTING:
        for where, value in string_values(load_yaml(path)):
            rest = re.sub(r"\$\{[A-Z][A-Z0-9_]*\}|\$__(env|file)\{[^}]+\}", "", value)
            assert "$" not in rest, f"{path.name}{where}: {value!r}"


def string_values(value, where: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from string_values(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from string_values(v, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


# --- Alertmanager ---------------------------------------------------------------------------


def test_alertmanager_config_is_valid():
    result = run([tool("amtool"), "check-config", str(ALERTMANAGER)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("team", ["care", "ops"])
def test_alertmanager_routes_every_alert_to_its_team(team):
    alerts = [a for a in alert_rules() if a["labels"]["team"] == team]
    assert alerts
    for a in alerts:
        labels = [f"alertname={a['alert']}", *(f"{k}={v}" for k, v in a["labels"].items())]
        result = run(
            [tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels]
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.split() == [f"{team}-team"], (a["alert"], result.stdout)
