"""The brand configuration over time: the versions the workers ran with, and which one was in
force for a mention.

Workers record the configuration they start with (schemas: brand_config.v1) on a compacted
topic, each version with the instant it took effect. The workers and the audit alike judge
every mention with the version in force when the mention was created (its event time): a later
change of the brands file doesn't re-judge the past. A mention older than the first recorded
version is judged with the first one (nothing earlier is known).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from streams.brands import BrandConfig, BrandPolicy, BusinessCalendar


@dataclass(frozen=True)
class ConfigVersion:
    """One recorded configuration: in force from `effective_ms` until the next version."""

    effective_ms: int
    sha256: str  # brand_config_sha256 of `config`
    source: str  # the brands file the worker read, or "built-in default"
    config: BrandConfig


def ordered_versions(versions: Sequence[ConfigVersion]) -> tuple[ConfigVersion, ...]:
    """By effective time (of versions recorded at the same instant, one order: by hash), each
    change once: a version equal to the one before it changes nothing (two workers that
    started together with the same file both recorded it) and is left out."""
    out: list[ConfigVersion] = []
    for version in sorted(versions, key=lambda v: (v.effective_ms, v.sha256)):
        if not out or out[-1].sha256 != version.sha256:
            out.append(version)
    return tuple(out)


def versions_in_force(versions: Sequence[ConfigVersion], from_ms: int, to_ms: int
                      ) -> tuple[ConfigVersion, ...]:
    """The versions that judge some instant of [from_ms, to_ms): the one in force at from_ms
    (the first version if none was yet), and every one that took effect before to_ms."""
    ordered = ordered_versions(versions)
    if not ordered:
        return ()
    starts = [v.effective_ms for v in ordered]
    first = max(bisect_right(starts, from_ms) - 1, 0)
    last = max(bisect_right(starts, to_ms - 1) - 1, first)
    return ordered[first:last + 1]


def needs_recording(recorded: Sequence[tuple[int, str]], sha256: str) -> bool:
    """Whether a worker starting with the configuration of this hash must record it, given the
    recorded (effective_ms, sha256) pairs: unless it is the latest recorded version (a restart
    with the same file records nothing)."""
    return not recorded or max(recorded)[1] != sha256


def _merged_brands(versions: Sequence[ConfigVersion]) -> Mapping[str, BrandPolicy]:
    """Every brand configured in any of the versions, with its latest policy (what a report
    lists per brand; each mention is still judged with its own version)."""
    merged: dict[str, BrandPolicy] = {}
    for version in versions:
        merged.update(version.config.brands)
    return MappingProxyType(merged)


@dataclass(frozen=True)
class ConfigTimeline(BrandConfig):
    """A BrandConfig that answers every question with the version in force at the instant it
    is asked about (`at_ms`: a mention's creation). Its own fields are the latest version's,
    with the brands of every version: used where no instant applies (the report's brand list
    and parameters)."""

    versions: tuple[ConfigVersion, ...] = ()
    _starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, versions: Sequence[ConfigVersion], current: BrandConfig | None = None
           ) -> ConfigTimeline:
        """`current` answers where no instant applies (a worker: the file it runs with, whose
        brands are its metrics' labels); by default the latest version's defaults with the
        brands of every version (an audit lists every brand configured in its range)."""
        ordered = ordered_versions(versions)
        if not ordered:
            raise ValueError("a configuration timeline needs at least one version")
        base = current if current is not None else ordered[-1].config
        brands = base.brands if current is not None else _merged_brands(ordered)
        return cls(brands=brands, default_sla_ms=base.default_sla_ms,
                   default_ignore_after_ms=base.default_ignore_after_ms,
                   share_window_ms=base.share_window_ms,
                   default_due_soon_ms=base.default_due_soon_ms,
                   default_ignore_soon_ms=base.default_ignore_soon_ms,
                   versions=ordered, _starts=tuple(v.effective_ms for v in ordered))

    def version_at(self, at_ms: int) -> ConfigVersion:
        index = bisect_right(self._starts, at_ms) - 1
        return self.versions[max(index, 0)]

    def _at(self, at_ms: int | None) -> BrandConfig | None:
        return None if at_ms is None else self.version_at(at_ms).config

    def policy_for(self, brand_key: str, at_ms: int | None = None) -> BrandPolicy:
        config = self._at(at_ms)
        if config is None:
            return super().policy_for(brand_key)
        return config.policy_for(brand_key)

    def warning_budgets(self, brand_key: str, at_ms: int | None = None) -> tuple[int, int]:
        config = self._at(at_ms)
        if config is None:
            return super().warning_budgets(brand_key)
        return config.warning_budgets(brand_key)

    def budgets(self, brand_key: str, at_ms: int | None = None
                ) -> tuple[int, int, BusinessCalendar | None]:
        config = self._at(at_ms)
        if config is None:
            return super().budgets(brand_key)
        return config.budgets(brand_key)

    def is_brand_account(self, brand_key: str, handle: str, at_ms: int | None = None) -> bool:
        config = self._at(at_ms)
        if config is None:
            return super().is_brand_account(brand_key, handle)
        return config.is_brand_account(brand_key, handle)
