"""Static checks of the container setup: docker-compose.yml (parsed with PyYAML, no Docker
needed), deploy/Dockerfile, .dockerignore, .env.example and the provisioning files.

What a `docker compose up` on a fresh machine would otherwise find out the slow way: a bind
mount of a file that isn't in the repository, an unpinned image, a worker command the CLI doesn't
have, a Prometheus target that no service answers, a password in a committed file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
PROM_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"

KAFKA_IMAGE = "apache/kafka:4.1.1"
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Ports of the local stack (`./dev demo`: Kafka 9092 + controller 9093; `./dev test`: 19092 +
# 19093; a worker's web 6066 and metrics 9108): compose must not publish them on the host.
LOCAL_STACK_PORTS = {9092, 9093, 19092, 19093, 6066, 9108}
WORKER_ENV = {
    "MENTIONWATCH_BOOTSTRAP_SERVERS": "kafka:9092",
    "MENTIONWATCH_WEB_HOST": "0.0.0.0",
    "MENTIONWATCH_WEB_PORT": "6066",
    "MENTIONWATCH_METRICS_HOST": "0.0.0.0",
    "MENTIONWATCH_METRICS_PORT": "9108",
    "MENTIONWATCH_BRANDS_FILE": "/etc/mentionwatch/brands.toml",
    "MENTIONWATCH_HOME": "/var/lib/mentionwatch",
}
# Used only when agents.cli can't be imported. TODO: drop once agents.cli is always importable
# in the test environment (it is the source of truth).
FALLBACK_CLI_COMMANDS = {
    ("worker",),
    ("topics", "create"),
    ("broker", "start"),
    ("broker", "stop"),
    ("broker", "status"),
    ("ingest",),
    ("replay",),
    ("demo",),
    ("classify",),
    ("eval-classifier",),
}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """What compose makes of ${VAR:-default} with an empty environment (defaults only)."""
    return VAR.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else "", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict) and doc.get("services"), "docker-compose.yml has no services"
    return doc


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def our_image_services(compose: dict) -> dict[str, dict]:
    """Services built from deploy/Dockerfile."""
    out = {}
    for name, svc in services(compose).items():
        build = svc.get("build")
        if isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile":
            out[name] = svc
    return out


def worker_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in our_image_services(compose).items() if s.get("command") == ["worker"]}


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts(svc: dict) -> list[dict]:
    """Volumes in long form: {type, source, target, read_only}."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            out.append(
                {
                    "type": v.get("type", "volume"),
                    "source": v.get("source"),
                    "target": v["target"],
                    "read_only": bool(v.get("read_only")),
                }
            )
            continue
        parts = v.split(":")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        out.append(
            {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")}
        )
    return out


def test_every_bind_mounted_file_or_directory_is_in_the_repository(compose):
    missing = []
    for name, svc in services(compose).items():
        for m in mounts(svc):
            if m["type"] != "bind":
                continue
            assert m["source"].startswith("./"), f"{name}: bind mount {m['source']} not in repo"
            if not (ROOT / m["source"]).exists():
                missing.append(f"{name}: {m['source']}")
    assert not missing, f"bind-mounted paths missing from the repository: {missing}"


def test_config_bind_mounts_are_read_only(compose):
    for name, svc in services(compose).items():
        for m in mounts(svc):
            if m["type"] == "bind":
                assert m["read_only"], f"{name}: {m['source']} should be mounted :ro"


def split_image(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of `repo:tag@sha256:...`; digest "" when there is none."""
    reference, _, digest = image.partition("@")
    repo, _, tag = reference.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = reference, ""
    return repo, tag, digest


def test_split_image():
    assert split_image("apache/kafka:4.1.1@sha256:" + "0" * 64) == (
        "apache/kafka",
        "4.1.1",
        "sha256:" + "0" * 64,
    )
    assert split_image("localhost:5000/mentionwatch") == ("localhost:5000/mentionwatch", "", "")


def test_every_image_is_pinned(compose):
    for name, svc in services(compose).items():
        image = svc.get("image")
        assert image, f"{name}: no image (tag the built image too)"
        assert "$" not in image, f"{name}: image {image} depends on a variable"
        repo, tag, digest = split_image(image)
        assert repo and tag, f"{name}: image {image} has no tag"
        assert tag != "latest", f"{name}: image {image} uses latest"
        if "build" in svc:
            assert not digest, f"{name}: {image} is built here, it has no registry digest"
            continue
        assert re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
        # tag@digest: the tag for the reader, the digest so a re-pushed tag changes nothing.
        assert IMAGE_DIGEST.fullmatch(digest), (
            f"{name}: {image} is not pinned by digest; add @sha256:... from "
            f"`docker buildx imagetools inspect {repo}:{tag}`"
        )


def test_images_are_pinned_by_digest_only_in_compose_and_the_dockerfile():
    """Each image a digest pins appears once, in one place, so an upgrade changes one line."""
    text = COMPOSE.read_text(encoding="utf-8") + DOCKERFILE.read_text(encoding="utf-8")
    pinned = re.findall(r"([\w./-]+:[\w.-]+)@(sha256:[0-9a-f]{64})", text)
    assert len(pinned) == len({ref for ref, _ in pinned}), pinned


def test_kafka_is_apache_kafka_in_kraft_mode(compose):
    kafka = services(compose)["kafka"]
    assert kafka["image"].partition("@")[0] == KAFKA_IMAGE
    env = {k: interpolate(v) for k, v in env_of(kafka).items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    test = " ".join(kafka["healthcheck"]["test"])
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092" in test
    data = [m for m in mounts(kafka) if m["target"] == env["KAFKA_LOG_DIRS"]]
    assert data and data[0]["type"] == "volume", "Kafka's log dir must be a named volume"


def test_kafka_image_matches_the_local_broker_version(compose):
    try:
        from agents.broker import KAFKA_VERSION
    except ImportError:  # pragma: no cover - agents is part of this repository
        pytest.fail("agents.broker is not importable: run the tests from the repo's .venv")
    image = services(compose)["kafka"]["image"]
    assert image.partition("@")[0] == f"apache/kafka:{KAFKA_VERSION}"


def test_published_ports_are_local_unique_and_clear_of_the_local_stack(compose):
    seen: dict[int, str] = {}
    for name, svc in services(compose).items():
        for spec in svc.get("ports", []):
            assert isinstance(spec, str), f"{name}: use the short port syntax"
            parts = interpolate(spec).split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", (
                f"{name}: publish on 127.0.0.1 only, got {spec!r}"
            )
            host = int(parts[1])
            assert host not in LOCAL_STACK_PORTS, f"{name}: host port {host} collides with ./dev"
            assert host not in seen, f"host port {host}: {seen.get(host)} and {name}"
            seen[host] = name
    container_ports = {
        name: {int(interpolate(p).split(":")[-1]) for p in svc.get("ports", [])}
        for name, svc in services(compose).items()
    }
    assert 9090 in container_ports["prometheus"]
    assert 9093 in container_ports["alertmanager"]
    assert 3000 in container_ports["grafana"]


def test_data_lives_in_named_volumes(compose):
    declared = set((compose.get("volumes") or {}).keys())
    expected_targets = {
        "kafka": "/var/lib/kafka/data",
        "prometheus": "/prometheus",
        "alertmanager": "/alertmanager",
        "grafana": "/var/lib/grafana",
    }
    for worker in worker_services(compose):
        expected_targets[worker] = WORKER_ENV["MENTIONWATCH_HOME"]
    used = {}
    for name, target in expected_targets.items():
        ms = [m for m in mounts(services(compose)[name]) if m["target"] == target]
        assert ms and ms[0]["type"] == "volume", f"{name}: {target} is not a named volume"
        assert ms[0]["source"] in declared, f"{name}: volume {ms[0]['source']} not declared"
        assert ms[0]["source"] not in used, (
            f"{name} and {used.get(ms[0]['source'])} share volume {ms[0]['source']}"
        )
        used[ms[0]["source"]] = name


def cli_commands() -> set[tuple[str, ...]]:
    try:
        import click

        from agents.cli import main
    except ImportError:
        return FALLBACK_CLI_COMMANDS
    if not isinstance(main, click.Group):
        return FALLBACK_CLI_COMMANDS
    out: set[tuple[str, ...]] = set()

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                walk(cmd, (*prefix, name))
            else:
                out.add((*prefix, name))

    walk(main, ())
    return out


def test_container_commands_are_real_cli_commands(compose):
    commands = cli_commands()
    built = our_image_services(compose)
    assert built, "no service is built from deploy/Dockerfile"
    for name, svc in built.items():
        command = svc.get("command")
        assert isinstance(command, list) and command, f"{name}: give the command as a list"
        words = tuple(w for w in command if not w.startswith("-"))
        assert any(words[: len(c)] == c for c in commands), (
            f"{name}: `mentionwatch {' '.join(command)}` is not a CLI command ({sorted(commands)})"
        )
        assert "entrypoint" not in svc, f"{name}: the image's ENTRYPOINT is `mentionwatch`"


def test_topics_are_created_once_before_the_workers(compose):
    topics = services(compose)["topics"]
    assert topics["command"] == ["topics", "create"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics.get("restart") == "no"
    for name, svc in worker_services(compose).items():
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["topics"]["condition"] == "service_completed_successfully", name


def test_two_workers_with_the_required_environment(compose):
    workers = worker_services(compose)
    assert len(workers) >= 2, f"expected two worker services, got {sorted(workers)}"
    for name, svc in workers.items():
        env = env_of(svc)
        for key, value in WORKER_ENV.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, expected {value!r}"
        brands = [m for m in mounts(svc) if m["target"] == env["MENTIONWATCH_BRANDS_FILE"]]
        assert brands and brands[0]["type"] == "bind", f"{name}: brands file not mounted"


def test_prometheus_scrapes_exactly_the_worker_services(compose):
    config = yaml.safe_load(PROM_CONFIG.read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "mentionwatch"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    port = WORKER_ENV["MENTIONWATCH_METRICS_PORT"]
    expected = {f"{name}:{port}" for name in worker_services(compose)}
    assert targets == expected
    alertmanagers = {
        t
        for am in config["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    }
    assert alertmanagers == {"alertmanager:9093"}
    assert "alertmanager" in services(compose)


def test_long_running_services_have_restart_policies_and_healthchecks(compose):
    for name, svc in services(compose).items():
        assert svc.get("restart") in {"no", "always", "unless-stopped", "on-failure"}, name
        if svc["restart"] == "no":
            continue
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable") and hc.get("test"), f"{name}: no healthcheck"


def test_worker_healthcheck_hits_readyz_on_the_web_port(compose):
    for name, svc in worker_services(compose).items():
        test = " ".join(svc["healthcheck"]["test"])
        assert "/readyz" in test and "MENTIONWATCH_WEB_PORT" in test, name


def test_grafana_gets_its_admin_password_from_the_environment(compose):
    env = env_of(services(compose)["grafana"])
    password = env["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GF_SECURITY_ADMIN_PASSWORD:\?[^}]+\}", password), password
    grafana_mounts = {m["target"]: m["source"] for m in mounts(services(compose)["grafana"])}
    assert grafana_mounts.get("/etc/grafana/provisioning") == "./deploy/grafana/provisioning"
    dashboards = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/dashboards.yml").read_text()
    )
    path = dashboards["providers"][0]["options"]["path"]
    assert grafana_mounts.get(path) == "./deploy/grafana/dashboards"


SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|credentials?)$", re.I)
ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}|\$__(env|file)\{[^}]+\}")


def secret_files() -> list[Path]:
    files = [COMPOSE, PROM_CONFIG, ROOT / "deploy/alertmanager/alertmanager.yml"]
    files += sorted((ROOT / "deploy/grafana/provisioning").rglob("*.yml"))
    return files


def literal_secrets(value, where: str = "") -> list[str]:
    """Paths of values under secret-looking keys that are not environment references, and of
    URLs with user:password@ in them."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            is_literal = isinstance(v, str) and v.strip() and not ENV_REFERENCE.fullmatch(v.strip())
            if SECRET_KEY.search(key) and is_literal:
                found.append(f"{where}.{key}")
            found += literal_secrets(v, f"{where}.{key}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += literal_secrets(v, f"{where}[{i}]")
    elif isinstance(value, str) and re.search(r"://[^/\s:@]+:[^/\s@$]+@", value):
        found.append(f"{where} (credentials in a URL)")
    return found


def test_secret_check_finds_literals():
    assert literal_secrets({"a": {"password": "hunter2", "token": "${TOKEN}"}}) == [".a.password"]
    assert literal_secrets({"url": "https://u:p@example.org/"}) == [".url (credentials in a URL)"]


def test_no_password_literals_in_compose_or_provisioning_files():
    for path in secret_files():
        found = literal_secrets(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert not found, f"{path.relative_to(ROOT)}: literal secrets at {found}; use ${{VAR}}"


def test_env_example_holds_no_secret_and_names_what_compose_requires(compose):
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    values = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert values.get("GF_SECURITY_ADMIN_PASSWORD") == "", "leave the password empty"
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text(encoding="utf-8")))
    assert required <= set(values), f".env.example misses {required - set(values)}"
    for key, value in values.items():
        if SECRET_KEY.search(key):
            assert value == "", f".env.example: {key} must stay empty"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", ".mentionwatch"} <= patterns


def dockerfile_stages() -> list[list[str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck_and_entrypoint():
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and base.group(1).startswith("python:3.11-slim"), "base: python:3.11-slim"
    assert IMAGE_DIGEST.fullmatch(split_image(base.group(1))[2]), "pin the base by digest"
    stages = dockerfile_stages()
    assert len(stages) >= 2, "builder stage + final stage"
    builder, final = stages[0], stages[-1]
    assert " AS builder" in builder[0]
    assert any("pip wheel" in line for line in builder), "build the wheel in the builder stage"
    final_text = "\n".join(final)
    for tool in ("build-essential", "gcc", "g++", "pip wheel", "pip install", "apt-get install"):
        assert tool not in final_text, f"final stage must not contain {tool!r}"
    assert re.search(r"^COPY --from=builder ", final_text, re.M)
    user = [line for line in final if line.upper().startswith("USER ")]
    assert user and not re.match(r"USER (root|0)(:|$)", user[-1]), "run as a non-root user"
    healthcheck = [line for line in final if line.upper().startswith("HEALTHCHECK")]
    assert healthcheck, "HEALTHCHECK missing"
    assert "/readyz" in healthcheck[0] and "MENTIONWATCH_WEB_PORT" in healthcheck[0]
    assert 'ENTRYPOINT ["mentionwatch"]' in final_text


def test_image_installs_only_hash_locked_packages():
    """The builder takes every third-party package from requirements/*.lock with
    --require-hashes, builds the project without build isolation (which would fetch an
    unchecked setuptools) and installs it without resolving dependencies again."""
    builder = "\n".join(dockerfile_stages()[0])
    pip_commands = re.findall(r"python -m pip (?:--python \S+ )?(\w+) ([^&]*)", builder)
    assert pip_commands, "no pip command in the builder stage"
    for verb, args in pip_commands:
        if verb == "check":
            continue
        if " -r " in f" {args}":
            assert "--require-hashes" in args, f"pip {verb} {args}: add --require-hashes"
            assert re.search(r"-r requirements/(build|runtime|test)\.lock\b", args), args
        else:
            assert "--no-deps" in args, f"pip {verb} {args}: without a lock, use --no-deps"
        if verb == "wheel" and " . " in f" {args} ":
            assert "--no-build-isolation" in args, "build with the locked setuptools"
    locks = re.findall(r"-r requirements/(\w+)\.lock", builder)
    # test.lock: mypy, to compile the classifier in the builder stage (never in the image)
    assert sorted(locks) == ["build", "runtime", "test"], locks
    assert "--index-url" not in builder and "--extra-index-url" not in builder


def test_exposed_workers_require_an_ingest_token_from_the_environment(compose):
    # A worker bound to 0.0.0.0 refuses to start without a token (agents/web_policy.py); compose
    # must stop with a clear message when .env lacks it, and never carry a literal.
    for name, svc in worker_services(compose).items():
        env = env_of(svc)
        assert env["MENTIONWATCH_WEB_HOST"] == "0.0.0.0"
        token = env.get("MENTIONWATCH_INGEST_TOKEN", "")
        assert re.fullmatch(r"\$\{MENTIONWATCH_INGEST_TOKEN:\?[^}]+\}", token), (name, token)
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"^MENTIONWATCH_INGEST_TOKEN=$", example, re.M)


def test_exposed_workers_require_a_queue_token_and_reach_each_other(compose):
    # The queue needs its own token off loopback (agents/web_policy.py), from .env; each worker
    # announces a URL the others can reach its part of the queue at: its service name.
    urls = set()
    for name, svc in worker_services(compose).items():
        env = env_of(svc)
        token = env.get("MENTIONWATCH_QUEUE_TOKEN", "")
        assert re.fullmatch(r"\$\{MENTIONWATCH_QUEUE_TOKEN:\?[^}]+\}", token), (name, token)
        url = env.get("MENTIONWATCH_WEB_CANONICAL_URL")
        assert url == f"http://{name}:{env['MENTIONWATCH_WEB_PORT']}", (name, url)
        urls.add(url)
    assert len(urls) == len(worker_services(compose)) >= 2
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"^MENTIONWATCH_QUEUE_TOKEN=$", example, re.M)


def test_the_public_urls_reach_prometheus_grafana_and_the_workers(compose):
    """One setting per public base URL (queue, Grafana, runbooks), from .env with one default,
    passed to every service that builds links with it (docs/how-to/alerts-to-chat.md)."""
    urls = ("MENTIONWATCH_PUBLIC_URL", "MENTIONWATCH_GRAFANA_URL", "MENTIONWATCH_DOCS_URL")
    defaults: dict[str, set[str]] = {name: set() for name in urls}
    for svc in ("prometheus", "grafana", *worker_services(compose)):
        env = env_of(services(compose)[svc])
        for name in urls if svc in ("prometheus", "grafana") else ("MENTIONWATCH_PUBLIC_URL",):
            m = re.fullmatch(r"\$\{" + name + r":-([^}]+)\}", env.get(name, ""))
            assert m, f"{svc}: {name}={env.get(name)!r}"
            defaults[name].add(m.group(1))
    assert all(len(d) == 1 for d in defaults.values()), defaults
    grafana = env_of(services(compose)["grafana"])
    assert grafana["GF_SERVER_ROOT_URL"] == grafana["MENTIONWATCH_GRAFANA_URL"]
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in urls:
        (default,) = defaults[name]
        assert f"# {name}={default}\n" in example, f".env.example: document {name}={default}"
