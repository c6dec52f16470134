"""Which partition a key lands in, computed the way the producers do it."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2: Java, kafka-python, aiokafka) gives a
    keyed record."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
