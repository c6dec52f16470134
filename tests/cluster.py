"""Test helper: a real three-node Kafka KRaft cluster with a SASL_SSL client listener
(SCRAM-SHA-512 and PLAIN), its certificates made here by openssl, on free ports, under a
directory of the test's own. The JVMs are stopped whatever happens (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import free_port

from agents import broker
from agents.config import load_settings
from agents.kafka_clients import kafka_python_security

USER = "mentionwatch"
PLAIN_USER = "mentionwatch-plain"


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, and a broker certificate for 127.0.0.1/localhost signed by it. Returns the CA's
    certificate (what clients trust) and the broker's PEM keystore (unencrypted PKCS#8 key and
    certificate chain in one file, as Kafka's ssl.keystore.type=PEM reads it)."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=mentionwatch-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
            "broker.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "broker.pem", "-days", "2", "-extfile", "san.ext")
    keystore = directory / "broker-keystore.pem"
    keystore.write_text((directory / "broker.key").read_text()
                        + (directory / "broker.pem").read_text()
                        + (directory / "ca.pem").read_text())
    return {"ca": directory / "ca.pem", "keystore": keystore}


@dataclass
class SecureCluster:
    cluster: broker.Cluster
    ca: Path
    password: str = field(repr=False)
    plain_password: str = field(repr=False)

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def env(self, *, mechanism: str = "SCRAM-SHA-512", password: str | None = None
            ) -> dict[str, str]:
        """MENTIONWATCH_* variables of a client of this cluster (the right password unless
        another is given)."""
        plain = mechanism == "PLAIN"
        return {
            "MENTIONWATCH_BOOTSTRAP_SERVERS": self.bootstrap,
            "MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "MENTIONWATCH_KAFKA_SASL_MECHANISM": mechanism,
            "MENTIONWATCH_KAFKA_USERNAME": PLAIN_USER if plain else USER,
            "MENTIONWATCH_KAFKA_PASSWORD": password or (
                self.plain_password if plain else self.password),
            "MENTIONWATCH_KAFKA_SSL_CAFILE": str(self.ca),
        }

    def client_options(self, **kwargs: Any) -> dict[str, Any]:
        """kafka-python's security options, through the project's own mapping."""
        return kafka_python_security(load_settings(self.env(**kwargs)))

    def node(self, node_id: int) -> broker.ClusterNode:
        return self.cluster.node(node_id)

    def kill(self, node_id: int) -> None:
        broker.kill_node(self.cluster, self.node(node_id))

    def restart(self, node_id: int) -> None:
        broker.start_node(self.cluster, self.node(node_id))
        broker.wait_for_brokers(self.cluster, {n.node_id for n in self.cluster.nodes},
                                self.client_options())


@contextmanager
def secure_cluster(root: Path, *, nodes: int = 3, partitions: int = 3) -> Iterator[SecureCluster]:
    """Start the cluster; stop every node at the end, whatever happened."""
    pems = make_certificates(root / "pki")
    password, plain_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    listener = broker.ClientListener(
        protocol="SASL_SSL", keystore_pem=pems["keystore"],
        scram_users=((USER, password),), plain_users=((PLAIN_USER, plain_password),))
    cluster = broker.cluster_on_ports(root / "kafka", [free_port() for _ in range(3 * nodes)],
                                      listener=listener, partitions=partitions)
    secure = SecureCluster(cluster, pems["ca"], password, plain_password)
    try:
        broker.start_cluster(cluster, secure.client_options())
        yield secure
    finally:
        broker.stop_cluster(cluster)
