"""`mentionwatch broker start|stop|status`: a real Apache Kafka broker (KRaft, one node) for the
local stack and the tests. Its jars come from Maven Central through deploy/kafka/pom.xml (cached
in ~/.m2 and the classpath in MENTIONWATCH_HOME); no Docker engine, no tarball download."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.config import Settings

# Keep in step with deploy/kafka/pom.xml and the apache/kafka image tag in docker-compose.yml
# (tests/test_packaging.py checks all three agree).
KAFKA_VERSION = "4.1.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class BrokerPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.yaml"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def classpath(self) -> Path:
        return self.root / "classpath.txt"

    @property
    def java_args(self) -> Path:
        # The classpath goes through a java @argfile: a 4 KB command line gets truncated in
        # /proc/PID/cmdline, where we recognise our broker by its main class.
        return self.root / "java-classpath.args"


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    try:
        return (host or "127.0.0.1"), int(port)
    except ValueError:
        raise BrokerError(
            f"MENTIONWATCH_BOOTSTRAP_SERVERS={bootstrap!r} is not host:port"
        ) from None


def controller_port(settings: Settings) -> int:
    return int(os.environ.get("MENTIONWATCH_KAFKA_CONTROLLER_PORT", "0")) or (
        _host_port(settings.bootstrap_servers)[1] + 1
    )


def server_properties(settings: Settings, paths: BrokerPaths) -> str:
    host, port = _host_port(settings.bootstrap_servers)
    cport = controller_port(settings)
    # One node: replication factor 1 for internal topics and no rebalance delay (faust's own CI
    # runs the same). Auto-creation is off so a typo in a topic name fails loudly.
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{cport}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={paths.data.resolve()}",
            f"num.partitions={settings.partitions}",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.check.interval.ms=300000",
            "",
        ]
    )


LOG4J2 = """Configuration:
  status: warn
  Appenders:
    RollingFile:
      name: server
      fileName: "{logs}/server.log"
      filePattern: "{logs}/server.log.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      Policies:
        SizeBasedTriggeringPolicy:
          size: 20MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: server
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
"""


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise BrokerError("java not found: install a JDK 17+ (Debian: openjdk-17-jre-headless)")
    return java


def resolve_classpath(paths: BrokerPaths) -> str:
    """The broker's classpath, resolved by Maven once per pom version and cached."""
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    stamp = paths.root / "classpath.pom-sha"
    if paths.classpath.exists() and stamp.exists() and stamp.read_text() == pom_hash:
        cp = paths.classpath.read_text().strip()
        if all(Path(jar).exists() for jar in cp.split(os.pathsep)):
            return cp
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError("mvn not found: install Maven (Debian: maven) to resolve Kafka's jars")
    paths.root.mkdir(parents=True, exist_ok=True)
    print(f"resolving Apache Kafka {KAFKA_VERSION} jars with Maven (first run only) ...",
          file=sys.stderr)
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath",
         f"-Dmdep.outputFile={paths.classpath.resolve()}"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0 or not paths.classpath.exists():
        raise BrokerError(f"mvn could not resolve Kafka's jars:\n{proc.stdout}\n{proc.stderr}")
    stamp.write_text(pom_hash)
    return paths.classpath.read_text().strip()


def _read_pid(paths: BrokerPaths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:
        # A broker this process started and that has exited stays a zombie until reaped: gone.
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except (OSError, IndexError):
        pass
    # A pid can be reused: make sure it is our java.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    # An empty cmdline is a process in the middle of exec: still ours.
    return pid if (not cmdline or b"kafka.Kafka" in cmdline or b"java" in cmdline) else None


def accepts_clients(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request (not merely a TCP accept)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap,
                                 request_timeout_ms=int(timeout_s * 1000),
                                 client_id="mentionwatch-broker-probe")
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start(settings: Settings, *, wait_s: float = 180.0) -> str:
    paths = BrokerPaths(settings.kafka_dir)
    host, port = _host_port(settings.bootstrap_servers)
    pid = _read_pid(paths)
    if pid is not None:
        if _wait_ready(settings, lambda: _read_pid(paths) == pid, wait_s):
            return f"broker already running (pid {pid}) on {host}:{port}"
        raise BrokerError(f"broker pid {pid} runs but does not accept clients; see {paths.logs}")
    if _port_open(host, port):
        raise BrokerError(
            f"{host}:{port} is already in use by another process: stop it, or set "
            "MENTIONWATCH_BOOTSTRAP_SERVERS to a free host:port"
        )
    classpath = resolve_classpath(paths)
    java = _java()
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings, paths))
    paths.log4j.write_text(LOG4J2.replace("{logs}", str(paths.logs.resolve())))
    if not (paths.data / "meta.properties").exists():
        # A new cluster: table stores of local workers belong to the old one (their changelog
        # offsets would not exist any more), so they go too.
        for stale in [*settings.home.glob("worker-*"), settings.home / "state"]:
            shutil.rmtree(stale, ignore_errors=True)
        cluster_id = _cluster_id()
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
             "-c", str(paths.config)],
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed:\n{fmt.stdout}\n{fmt.stderr}")
    paths.java_args.write_text(f'-cp "{classpath}"\n')
    heap = os.environ.get("MENTIONWATCH_KAFKA_HEAP", "1g")
    with open(paths.logs / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            [java, f"-Xmx{heap}", "-Xms256m",
             "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={paths.log4j.resolve()}",
             f"-Dkafka.logs.dir={paths.logs.resolve()}",
             f"@{paths.java_args.resolve()}", "kafka.Kafka", str(paths.config.resolve())],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not kill it mid-write
        )
    paths.pid.write_text(str(proc.pid))
    if not _wait_ready(settings, lambda: proc.poll() is None, wait_s):
        exited = proc.poll()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        paths.pid.unlink(missing_ok=True)
        tail = _tail(paths.logs / "stdout.log") or _tail(paths.logs / "server.log")
        why = (f"exited with code {exited}" if exited is not None
               else f"did not accept clients within {wait_s:.0f}s")
        raise BrokerError(f"broker {why}; last log lines:\n{tail}")
    return f"broker started (pid {proc.pid}, Kafka {KAFKA_VERSION}) on {host}:{port}"


def _cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding. One in 64
    # starts with "-", which the storage tool's parser takes for an option; Kafka's own
    # Uuid.randomUuid draws again in that case, and so does this.
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _wait_ready(settings: Settings, alive: Callable[[], bool], wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    host, port = _host_port(settings.bootstrap_servers)
    while time.monotonic() < deadline:
        if not alive():
            return False
        if _port_open(host, port) and accepts_clients(settings.bootstrap_servers):
            return True
        time.sleep(0.5)
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def stop(settings: Settings, *, wait_s: float = 60.0) -> str:
    paths = BrokerPaths(settings.kafka_dir)
    pid = _read_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return "broker not running"
    os.kill(pid, signal.SIGTERM)  # controlled shutdown: flushes logs, no recovery at next start
    killed = False
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if _read_pid(paths) is None:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        killed = True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if we started it in this process
    paths.pid.unlink(missing_ok=True)
    if killed:
        return f"broker did not stop within {wait_s:.0f}s: killed (pid {pid})"
    return f"broker stopped (pid {pid})"


def status(settings: Settings) -> tuple[bool, str]:
    paths = BrokerPaths(settings.kafka_dir)
    pid = _read_pid(paths)
    host, port = _host_port(settings.bootstrap_servers)
    if pid is None:
        return False, (
            f"broker not running (state in {paths.root.resolve()}; "
            f"`mentionwatch broker start` runs Kafka {KAFKA_VERSION} on {host}:{port})"
        )
    ready = accepts_clients(settings.bootstrap_servers)
    return ready, "\n".join(
        [
            f"broker running: pid {pid}, Apache Kafka {KAFKA_VERSION} (KRaft, single node)",
            f"  clients:    {host}:{port} ({'accepting' if ready else 'NOT accepting yet'})",
            f"  controller: {host}:{controller_port(settings)}",
            f"  data:       {paths.data.resolve()}",
            f"  logs:       {paths.logs.resolve()}",
        ]
    )
