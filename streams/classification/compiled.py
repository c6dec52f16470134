"""Whether the classifier runs compiled, and a guard against stale compiled modules.

``./dev setup`` compiles the classifier's hot modules with mypyc (tools/compile_classifier.py):
the same Python source, as C extension modules next to it, about 1.8 times as fast, with the
same results (tests/test_compiled_classifier.py). Python imports an extension module before the
source beside it, so a compiled module older than its source would run the old code silently;
the build records a digest of the sources, and importing the package refuses a compiled build
whose digest no longer matches (this module is never compiled itself).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

#: The modules tools/compile_classifier.py compiles (the rest of the package stays Python).
COMPILED_MODULES: tuple[str, ...] = ("cache", "text", "packed", "engine", "model")
#: Written by the build: the digest of the sources it compiled.
STAMP = "compiled.sha256"
PACKAGE_DIR = Path(__file__).resolve().parent


def source_digest(directory: Path = PACKAGE_DIR) -> str:
    """sha256 of the compiled modules' sources and the interpreter they are built for."""
    digest = hashlib.sha256(f"{sys.implementation.cache_tag} {sys.version}\n".encode())
    for name in COMPILED_MODULES:
        digest.update(name.encode() + b"\n" + (directory / f"{name}.py").read_bytes())
    return digest.hexdigest()


#: The build's shared library (the modules' code; each module's own file is a small shim).
SHARED_LIBRARY = "classifier__mypyc"


def compiled_files(directory: Path = PACKAGE_DIR) -> list[Path]:
    """The extension modules of a compiled build in ``directory`` (none: pure Python)."""
    names = (*COMPILED_MODULES, SHARED_LIBRARY)
    return sorted(p for name in names for p in directory.glob(f"{name}.*.so"))


def check_not_stale(directory: Path = PACKAGE_DIR) -> None:
    """Raise ImportError if compiled modules are present but not all of them, or built from
    other sources."""
    found = compiled_files(directory)
    if not found:
        return
    missing = {*COMPILED_MODULES, SHARED_LIBRARY} - {p.name.split(".")[0] for p in found}
    stamp = directory / STAMP
    recorded = stamp.read_text().strip() if stamp.exists() else ""
    if missing:
        raise ImportError(
            f"the compiled classifier in {directory} is incomplete (no {sorted(missing)}): run "
            "./dev setup to rebuild it, or `python -m tools.compile_classifier --clean` to run "
            "the Python source"
        )
    if recorded != source_digest(directory):
        raise ImportError(
            f"the compiled classifier in {directory} was built from other sources than the "
            "ones beside it: run ./dev setup to rebuild it, or "
            "`python -m tools.compile_classifier --clean` to run the Python source"
        )


def is_compiled() -> bool:
    """Whether the classifier's hot modules run compiled in this process."""
    engine = sys.modules.get(f"{__package__}.engine")
    return engine is not None and str(getattr(engine, "__file__", "")).endswith(".so")
