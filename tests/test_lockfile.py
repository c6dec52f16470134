"""requirements/*.lock agree with pyproject.toml, without a network.

`./dev lock` (pip-compile --generate-hashes) writes three locks: build.lock (the build backend),
runtime.lock (what the image installs) and test.lock (what ./dev and CI install: runtime, the
test extra and the build backend). Installs use `pip install --require-hashes`, so a package
that isn't in the lock, or a file whose sha256 isn't, is refused. These tests catch a lock that
no longer matches pyproject.toml: a pin added, changed or removed there and `./dev lock` not run.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCKS = ROOT / "requirements"
PROJECT = "mentionwatch (pyproject.toml)"
BUILD_SYSTEM = "mentionwatch (pyproject.toml::build-system.requires)"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(\s*;[^\\]*)?$")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass
class Locked:
    version: str
    hashes: list[str]
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Locked]:
    """{canonical name: pin, hashes, what requires it} of a pip-compile lock file."""
    out: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment = line[1:].strip()
            if current is None:
                continue
            if comment.startswith("via "):
                current.via.append(comment[4:].strip())
                in_via = False
            elif comment == "via":
                in_via = True
            elif in_via and raw.lstrip().startswith("#   "):
                current.via.append(comment)
            else:
                in_via = False
            continue
        if not line:
            current, in_via = None, False
            continue
        logical += line.removesuffix("\\").strip() + " "
        if line.endswith("\\"):
            continue
        words, logical = logical.split(), ""
        if words[0].startswith("-"):
            raise AssertionError(f"option line in a lock: {' '.join(words)}")
        match = PIN.match(words[0])
        if not match:
            raise AssertionError(f"not pinned with ==: {words[0]}")
        name = canonicalize_name(match.group(1))
        current = Locked(match.group(2), [w for w in words[1:] if HASH.fullmatch(w)])
        out[name] = current
        in_via = False
    return out


def load(name: str) -> dict[str, Locked]:
    path = LOCKS / name
    assert path.is_file(), f"{path.relative_to(ROOT)} missing: run ./dev lock"
    return parse_lock(path.read_text(encoding="utf-8"))


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def mismatches(requirements: list[str], lock: dict[str, Locked], via: str) -> list[str]:
    """What is wrong between pyproject's requirements and a lock: a requirement missing from
    the lock or locked at a version it doesn't allow, and a package the lock has as a direct
    requirement (`# via mentionwatch (pyproject.toml)`) that pyproject no longer names."""
    problems = []
    wanted = {}
    for spec in requirements:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        wanted[name] = req
        if name not in lock:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(lock[name].version, prereleases=True):
            problems.append(f"{req} but the lock has {name}=={lock[name].version}")
    for name, locked in lock.items():
        if via in locked.via and name not in wanted:
            problems.append(
                f"{name}=={locked.version} is locked for pyproject, which has no {name}"
            )
    return problems


def runtime_requirements() -> list[str]:
    return list(pyproject()["project"]["dependencies"])


def with_test_requirements() -> list[str]:
    return runtime_requirements() + list(pyproject()["project"]["optional-dependencies"]["test"])


def build_requirements() -> list[str]:
    return list(pyproject()["build-system"]["requires"])


@pytest.mark.parametrize(
    ("lock", "requirements", "via"),
    [
        ("runtime.lock", runtime_requirements, PROJECT),
        ("test.lock", with_test_requirements, PROJECT),
        ("build.lock", build_requirements, BUILD_SYSTEM),
        ("test.lock", build_requirements, BUILD_SYSTEM),
    ],
)
def test_lock_matches_pyproject(lock, requirements, via):
    problems = mismatches(requirements(), load(lock), via)
    assert not problems, f"requirements/{lock} is out of date, run ./dev lock: {problems}"


def test_pyproject_pins_exact_versions():
    for spec in with_test_requirements():
        assert str(Requirement(spec).specifier).startswith("=="), f"pin {spec} with =="


@pytest.mark.parametrize("lock", ["build.lock", "runtime.lock", "test.lock"])
def test_every_locked_package_is_pinned_with_hashes(lock):
    text = (LOCKS / lock).read_text(encoding="utf-8")
    assert "#    ./dev lock\n" in text, f"requirements/{lock}: regenerate it with ./dev lock"
    for name, locked in load(lock).items():
        assert locked.hashes, f"requirements/{lock}: {name} has no --hash"


def test_the_test_lock_installs_the_same_versions_as_runtime_and_build():
    test = load("test.lock")
    for other in ("runtime.lock", "build.lock"):
        for name, locked in load(other).items():
            assert name in test, f"{name} is in {other} but not in test.lock"
            assert test[name].version == locked.version, (
                f"{name}: {other} has {locked.version}, test.lock {test[name].version}"
            )
            assert set(locked.hashes) <= set(test[name].hashes), f"{name}: hashes differ"


def test_test_only_packages_stay_out_of_the_runtime_lock():
    runtime = load("runtime.lock")
    runtime_names = {canonicalize_name(Requirement(s).name) for s in runtime_requirements()}
    for spec in with_test_requirements():
        name = canonicalize_name(Requirement(spec).name)
        if name not in runtime_names and name in runtime:
            assert PROJECT not in runtime[name].via, f"{name} is a test dependency"
    for name in ("pytest", "hypothesis", "mypy", "ruff"):
        assert name not in runtime, f"{name} in runtime.lock (the image)"


def test_the_checks_notice_a_stale_lock():
    lock = parse_lock(
        "#    ./dev lock\n"
        "click==8.3.3 \\\n"
        "    --hash=sha256:" + "a" * 64 + "\n"
        "    # via\n"
        "    #   faust-streaming\n"
        "    #   mentionwatch (pyproject.toml)\n"
        "gone==1.0 \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n"
        "    # via mentionwatch (pyproject.toml)\n"
    )
    assert lock["click"].via == ["faust-streaming", PROJECT]
    assert mismatches(["click==8.3.3", "gone==1.0"], lock, PROJECT) == []
    assert mismatches(["click==8.3.4", "gone==1.0"], lock, PROJECT) == [
        "click==8.3.4 but the lock has click==8.3.3"
    ]
    assert mismatches(["click==8.3.3", "gone==1.0", "new==2"], lock, PROJECT) == [
        "new==2 is not in the lock"
    ]
    assert mismatches(["click==8.3.3"], lock, PROJECT) == [
        "gone==1.0 is locked for pyproject, which has no gone"
    ]


def test_dev_installs_from_the_lock_with_hashes():
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    assert "pip install -q --require-hashes -r requirements/test.lock" in dev
    assert "pip install -q --no-deps --no-build-isolation -e ." in dev
    # Re-installs when either the lock or pyproject.toml changes.
    assert "cat pyproject.toml requirements/test.lock | sha256sum" in dev
    assert 'pip install -q -e ".[test]"' not in dev
