"""End-to-end benchmark of mentionwatch against its limit, its framework and a peer.

Run: ``.venv/bin/python -m bench.run`` (see docs/explanation/performance.md).
"""
