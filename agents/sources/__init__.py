"""Platform sources, the shell: websocket and REST loops that feed streams.sources' parsers and
produce to mentions.raw with a durable cursor (agents.sources.runtime)."""
