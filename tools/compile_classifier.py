"""Compile the classifier's hot modules with mypyc (run by ./dev setup).

    python -m tools.compile_classifier           build, unless the build in place is current
    python -m tools.compile_classifier --clean   remove the compiled modules (pure Python)

The modules (streams/classification/compiled.py: COMPILED_MODULES) are compiled as they are,
type annotations and all, into C extension modules placed beside their sources, and the digest
of the sources is recorded so that a stale build is refused at import. A build is kept in
$XDG_CACHE_HOME/mentionwatch/compiled/<digest> (default ~/.cache): a clone with the same
sources (the tutorial test's) copies it instead of compiling again. Needs a C compiler and the
interpreter's headers (./dev setup installs them); without them the package runs as Python.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _load_compiled_module() -> ModuleType:
    # By path, not through the package: importing the package refuses a stale build, which is
    # what this tool is run to replace.
    path = REPO / "streams" / "classification" / "compiled.py"
    spec = importlib.util.spec_from_file_location("_mentionwatch_compiled", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_compiled = _load_compiled_module()
COMPILED_MODULES: tuple[str, ...] = _compiled.COMPILED_MODULES
PACKAGE_DIR: Path = _compiled.PACKAGE_DIR
STAMP: str = _compiled.STAMP
compiled_files = _compiled.compiled_files
source_digest = _compiled.source_digest
GROUP = "streams.classification.classifier"  # its shared library: SHARED_LIBRARY


def cache_dir(digest: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mentionwatch" / "compiled" / digest


def clean(package: Path) -> None:
    for path in compiled_files(package):
        path.unlink()
    (package / STAMP).unlink(missing_ok=True)


def copy_sources(package: Path, dest: Path) -> Path:
    """The package's Python sources and data (no build) as dest/streams/classification."""
    target = dest / "streams" / "classification"
    target.mkdir(parents=True)
    (dest / "streams" / "__init__.py").write_text("")
    for path in package.glob("*.py"):
        shutil.copy2(path, target / path.name)
    shutil.copytree(package / "data", target / "data")
    return target


def build(package: Path, out: Path) -> None:
    """Compile into ``out`` (the extension modules, flat)."""
    with tempfile.TemporaryDirectory(prefix="mentionwatch-mypyc-") as tmp:
        work = Path(tmp)
        # mypyc compiles modules by their package path: a copy of the package's sources
        target = copy_sources(package, work)
        script = (
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            f"paths = {[f'streams/classification/{m}.py' for m in COMPILED_MODULES]!r}\n"
            f"setup(name='mentionwatch-classifier', ext_modules=mypycify(paths, "
            f"group_name={GROUP!r}, opt_level='3', target_dir='build'))\n"
        )
        (work / "setup.py").write_text(script)
        result = subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=work, capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit("compile_classifier: mypyc failed (see above); the package "
                             "still runs as Python")
        built = compiled_files(target)
        if len(built) != len(COMPILED_MODULES) + 1:
            raise SystemExit(f"compile_classifier: expected {len(COMPILED_MODULES) + 1} "
                             f"extension modules, got {[p.name for p in built]}")
        out.mkdir(parents=True, exist_ok=True)
        for path in built:
            shutil.copy2(path, out / path.name)


def install(package: Path, source: Path, digest: str) -> None:
    clean(package)
    for path in sorted(source.glob("*.so")):
        tmp = package / (path.name + ".tmp")
        shutil.copy2(path, tmp)
        tmp.replace(package / path.name)  # a new file: a running process keeps the old one
    (package / STAMP).write_text(digest + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true",
                        help="remove the compiled modules: run the Python source")
    parser.add_argument("--package", type=Path, default=PACKAGE_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    package: Path = args.package
    if args.clean:
        clean(package)
        print("compile_classifier: removed the compiled modules; the classifier runs as Python")
        return 0
    digest = source_digest(package)
    stamp = package / STAMP
    complete = len(COMPILED_MODULES) + 1
    if (len(compiled_files(package)) == complete and stamp.exists()
            and stamp.read_text().strip() == digest):
        print("compile_classifier: the compiled classifier is current")
        return 0
    clean(package)  # a stale build goes first: if this one fails, the source runs
    cached = cache_dir(digest)
    if not (cached.is_dir() and len(list(cached.glob("*.so"))) == complete):
        print("compile_classifier: compiling the classifier with mypyc (about 15 seconds)",
              flush=True)
        partial = cached.with_name(cached.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        build(package, partial)
        shutil.rmtree(cached, ignore_errors=True)
        try:
            partial.replace(cached)
        except OSError:  # another build of the same sources got there first: use that one
            shutil.rmtree(partial, ignore_errors=True)
    install(package, cached, digest)
    print(f"compile_classifier: installed the compiled classifier ({digest[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
