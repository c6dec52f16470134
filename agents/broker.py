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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# -- a multi-node cluster -------------------------------------------------------------------------
# N KRaft nodes, each broker and controller (node ids 1..N, every node a voter), on one host:
# for the tests that need replication (a broker killed under a worker) and for trying
# MENTIONWATCH_REPLICATION_FACTOR=3 locally. Brokers talk to each other and to the controllers
# over PLAINTEXT on the host's loopback; clients get their own listener, PLAINTEXT or SASL_SSL
# (SCRAM-SHA-512 and PLAIN, TLS from PEM files).


@dataclass(frozen=True, slots=True)
class ClusterNode:
    node_id: int
    client_port: int
    internal_port: int  # broker to broker (replication)
    controller_port: int


@dataclass(frozen=True, slots=True)
class ClientListener:
    """How clients reach the cluster. SASL_SSL needs the brokers' key and certificate chain in
    one PEM file (unencrypted PKCS#8 key first) and at least one user."""

    protocol: str = "PLAINTEXT"  # PLAINTEXT or SASL_SSL
    keystore_pem: Path | None = None
    # SCRAM-SHA-512 users, stored in the cluster metadata at format time; PLAIN users, listed
    # in the brokers' JAAS config (so in their properties files: test clusters only).
    scram_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    plain_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Cluster:
    root: Path
    nodes: tuple[ClusterNode, ...]
    listener: ClientListener = ClientListener()
    host: str = "127.0.0.1"
    partitions: int = 6
    heap: str = "384m"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{n.client_port}" for n in self.nodes)

    def paths(self, node: ClusterNode) -> BrokerPaths:
        return BrokerPaths(self.root / f"node-{node.node_id}")

    def node(self, node_id: int) -> ClusterNode:
        return next(n for n in self.nodes if n.node_id == node_id)


def cluster_on_ports(root: Path, ports: list[int], *, listener: ClientListener = ClientListener(),
                     host: str = "127.0.0.1", partitions: int = 6, heap: str = "384m"
                     ) -> Cluster:
    """A cluster of len(ports) // 3 nodes: each node takes three consecutive ports of the list
    (clients, brokers, controller)."""
    if len(ports) < 3 or len(ports) % 3:
        raise BrokerError("a cluster needs three ports per node")
    nodes = tuple(ClusterNode(i + 1, *ports[3 * i:3 * i + 3]) for i in range(len(ports) // 3))
    return Cluster(root, nodes, listener, host, partitions, heap)


def cluster_node_properties(cluster: Cluster, node: ClusterNode) -> str:
    host, listener = cluster.host, cluster.listener
    count = len(cluster.nodes)
    # With three or more nodes the internal topics get 3 replicas and need 2 in sync, the
    # settings recommended for mentionwatch's own topics (docs/how-to/secured-cluster.md).
    replicas = min(3, count)
    min_isr = 2 if count >= 3 else 1
    voters = ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in cluster.nodes)
    client_protocol = listener.protocol
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners=CLIENT://{host}:{node.client_port},INTERNAL://{host}:{node.internal_port},"
        f"CONTROLLER://{host}:{node.controller_port}",
        f"advertised.listeners=CLIENT://{host}:{node.client_port},"
        f"INTERNAL://{host}:{node.internal_port}",
        "controller.listener.names=CONTROLLER",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,"
        f"CLIENT:{client_protocol}",
        "inter.broker.listener.name=INTERNAL",
        f"log.dirs={cluster.paths(node).data.resolve()}",
        f"num.partitions={cluster.partitions}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        "auto.create.topics.enable=false",
        "unclean.leader.election.enable=false",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=6",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.check.interval.ms=300000",
    ]
    if client_protocol == "SASL_SSL":
        if listener.keystore_pem is None or not (listener.scram_users or listener.plain_users):
            raise BrokerError("a SASL_SSL listener needs a PEM keystore and at least one user")
        mechanisms = (["SCRAM-SHA-512"] if listener.scram_users else []) + (
            ["PLAIN"] if listener.plain_users else [])
        lines += [
            f"listener.name.client.sasl.enabled.mechanisms={','.join(mechanisms)}",
            "listener.name.client.ssl.keystore.type=PEM",
            f"listener.name.client.ssl.keystore.location={listener.keystore_pem.resolve()}",
        ]
        if listener.scram_users:
            lines.append("listener.name.client.scram-sha-512.sasl.jaas.config="
                         "org.apache.kafka.common.security.scram.ScramLoginModule required;")
        if listener.plain_users:
            users = " ".join(f'user_{name}="{password}"' for name, password in
                             listener.plain_users)
            lines.append("listener.name.client.plain.sasl.jaas.config="
                         f"org.apache.kafka.common.security.plain.PlainLoginModule required "
                         f"{users};")
    elif client_protocol != "PLAINTEXT":
        raise BrokerError(f"client listener {client_protocol!r}: PLAINTEXT or SASL_SSL")
    return "\n".join([*lines, ""])


def _format_node(cluster: Cluster, node: ClusterNode, cluster_id: str, java: str,
                 classpath: str) -> None:
    paths = cluster.paths(node)
    scram = [arg for name, password in cluster.listener.scram_users
             for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]
    fmt = subprocess.run(
        [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
         "-c", str(paths.config), *scram],
        capture_output=True, text=True, check=False,
    )
    if fmt.returncode != 0:
        # The tool's output doesn't echo the command line, so no password reaches this message.
        raise BrokerError(f"formatting node {node.node_id} failed:\n{fmt.stdout}\n{fmt.stderr}")


def start_node(cluster: Cluster, node: ClusterNode) -> int:
    """Start one node's JVM (formatted already); returns its pid without waiting."""
    paths = cluster.paths(node)
    pid = _read_pid(paths)
    if pid is not None:
        return pid
    with open(paths.logs / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            [_java(), f"-Xmx{cluster.heap}", f"-Xms{cluster.heap}", "-XX:+UseG1GC",
             "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={paths.log4j.resolve()}",
             f"-Dkafka.logs.dir={paths.logs.resolve()}",
             f"@{paths.java_args.resolve()}", "kafka.Kafka", str(paths.config.resolve())],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    paths.pid.write_text(str(proc.pid))
    return proc.pid


def kill_node(cluster: Cluster, node: ClusterNode, sig: int = signal.SIGKILL,
              wait_s: float = 60.0) -> None:
    """Send sig to a node and wait until it is gone (SIGKILL: a crash, nothing flushed)."""
    paths = cluster.paths(node)
    pid = _read_pid(paths)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait_s
    while _read_pid(paths) is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + wait_s
        time.sleep(0.1)
    paths.pid.unlink(missing_ok=True)


def live_brokers(bootstrap: str, client_options: dict[str, Any] | None = None,
                 timeout_s: float = 5.0) -> set[int]:
    """The node ids of the brokers the cluster's metadata lists as alive (empty: unreachable)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap,
                                 request_timeout_ms=int(timeout_s * 1000),
                                 client_id="mentionwatch-cluster-probe",
                                 **(client_options or {}))
    except (KafkaError, OSError, ValueError):
        return set()
    try:
        return {int(b["broker_id"]) for b in admin.describe_cluster()["brokers"]}
    except (KafkaError, OSError):
        return set()
    finally:
        admin.close()


def wait_for_brokers(cluster: Cluster, want: set[int], client_options: dict[str, Any] | None,
                     wait_s: float = 180.0) -> None:
    """Until exactly the brokers `want` are registered; a node that exits fails at once."""
    deadline = time.monotonic() + wait_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if node.node_id in want and _read_pid(cluster.paths(node)) is None:
                tail = _tail(cluster.paths(node).logs / "server.log")
                raise BrokerError(f"node {node.node_id} exited; last log lines:\n{tail}")
        seen = live_brokers(cluster.bootstrap, client_options)
        if seen == want:
            return
        time.sleep(0.5)
    raise BrokerError(f"brokers {sorted(seen)} registered after {wait_s:.0f}s, wanted "
                      f"{sorted(want)}; logs in {cluster.root}")


def start_cluster(cluster: Cluster, client_options: dict[str, Any] | None = None, *,
                  wait_s: float = 180.0) -> str:
    """Format (first start) and start every node; returns when every broker is registered.
    client_options: the probe's kafka-python security options for the client listener."""
    first = cluster.paths(cluster.nodes[0])
    first.root.mkdir(parents=True, exist_ok=True)
    classpath = resolve_classpath(BrokerPaths(cluster.root))
    java = _java()
    cluster_id = _cluster_id()
    for node in cluster.nodes:
        paths = cluster.paths(node)
        paths.logs.mkdir(parents=True, exist_ok=True)
        paths.data.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(cluster_node_properties(cluster, node))
        paths.log4j.write_text(LOG4J2.replace("{logs}", str(paths.logs.resolve())))
        paths.java_args.write_text(f'-cp "{classpath}"\n')
        if not (paths.data / "meta.properties").exists():
            _format_node(cluster, node, cluster_id, java, classpath)
    for node in cluster.nodes:
        start_node(cluster, node)
    try:
        wait_for_brokers(cluster, {n.node_id for n in cluster.nodes}, client_options, wait_s)
    except BrokerError:
        stop_cluster(cluster)
        raise
    return (f"cluster of {len(cluster.nodes)} nodes started (Kafka {KAFKA_VERSION}, "
            f"{cluster.listener.protocol}) on {cluster.bootstrap}")


def stop_cluster(cluster: Cluster, wait_s: float = 30.0) -> None:
    """SIGTERM every node (a controlled shutdown), SIGKILL what is left after wait_s."""
    for node in cluster.nodes:
        pid = _read_pid(cluster.paths(node))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    for node in cluster.nodes:
        kill_node(cluster, node, signal.SIGTERM, wait_s)
