"""The pure core of mentionwatch: no Kafka, no I/O, no clock (time is passed in)."""
