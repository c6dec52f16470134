"""The core stays pure: streams/ and schemas/ import neither faust nor any Kafka client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("faust", "aiokafka", "kafka", "mode")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_framework() -> None:
    offenders = []
    files = sorted((REPO / "streams").rglob("*.py")) + sorted((REPO / "schemas").rglob("*.py"))
    assert len(files) >= 5
    for path in files:
        bad = _imported_modules(path) & set(FORBIDDEN)
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert offenders == []


def test_importing_the_core_loads_no_framework() -> None:
    code = (
        "import sys, streams, schemas, streams.tracking, streams.enrich, streams.audit, "
        "streams.classification, streams.partition, schemas.codec, schemas.state_codec\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == ""
