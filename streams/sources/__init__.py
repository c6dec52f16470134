"""Platform sources, the pure part: a frame or entity from a platform → what to produce
(a mention.v1), a deletion, or why nothing (counted) or why it is rejected (dead-lettered).
The websocket and REST loops that feed them live in agents/sources."""
