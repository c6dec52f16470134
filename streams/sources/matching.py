"""Which configured brand a platform post concerns: the lookups the sources share (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.brands import BrandConfig


@dataclass(frozen=True)
class BrandIndex:
    """The brands' platform identities, hashtags and keywords, indexed for per-frame lookups.
    Brands are tried in the config's key order, so a post naming two brands by hashtag or
    keyword always goes to the same one."""

    bluesky_dids: dict[str, str] = field(default_factory=dict)
    bluesky_handles: dict[str, str] = field(default_factory=dict)
    mastodon_accounts: dict[str, str] = field(default_factory=dict)
    hashtags: dict[str, str] = field(default_factory=dict)
    keywords: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def from_config(cls, config: BrandConfig) -> BrandIndex:
        dids: dict[str, str] = {}
        handles: dict[str, str] = {}
        accts: dict[str, str] = {}
        tags: dict[str, str] = {}
        keywords: list[tuple[re.Pattern[str], str]] = []
        for key in sorted(config.brands):
            policy = config.brands[key]
            for did in sorted(policy.bluesky_dids):
                dids.setdefault(did, key)
            for handle in sorted(policy.bluesky_handles):
                handles.setdefault(handle, key)
            for acct in sorted(policy.mastodon_accounts):
                accts.setdefault(acct, key)
            for tag in sorted(policy.hashtags):
                tags.setdefault(tag, key)
            for word in policy.keywords:
                # Word boundaries where the keyword starts/ends with a word character, so
                # "DB" matches "die DB streikt" but not "DBMS".
                left = r"(?<!\w)" if word[:1].isalnum() or word[:1] == "_" else ""
                right = r"(?!\w)" if word[-1:].isalnum() or word[-1:] == "_" else ""
                keywords.append((re.compile(left + re.escape(word) + right, re.IGNORECASE), key))
        return cls(dids, handles, accts, tags, tuple(keywords))

    def brand_of_bluesky_did(self, did: str) -> str | None:
        return self.bluesky_dids.get(did)

    def brand_of_mastodon_account(self, acct: str) -> str | None:
        """`acct` normalised to 'user@instance' (any case)."""
        return self.mastodon_accounts.get(acct.removeprefix("@").lower())

    def brand_of_hashtags(self, tags: Iterable[str]) -> str | None:
        """The brand of the first configured tag (in config order) among `tags` (with or
        without '#', any case)."""
        found = {self.hashtags.get(t.removeprefix("#").casefold()) for t in tags}
        found.discard(None)
        return min(found) if found else None  # type: ignore[type-var]

    def brand_of_text(self, text: str) -> str | None:
        """The first brand (config order) one of whose keywords occurs in `text`."""
        for pattern, key in self.keywords:
            if pattern.search(text):
                return key
        return None

    @property
    def watches_anything(self) -> bool:
        return bool(self.bluesky_dids or self.mastodon_accounts or self.hashtags
                    or self.keywords)
