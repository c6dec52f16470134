"""Brand configuration: the example file parses, every mistake is an error naming its place."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from streams.brands import (
    HOUR_MS,
    MINUTE_MS,
    BrandConfigError,
    default_brand_config,
    format_duration,
    parse_brand_config,
    parse_duration_ms,
)

REPO = Path(__file__).resolve().parents[1]


def test_example_file_parses() -> None:
    text = (REPO / "deploy" / "brands.example.toml").read_text(encoding="utf-8")
    config = parse_brand_config(text, source="brands.example.toml")
    assert sorted(config.brands) == ["db", "telekom"]
    assert config.share_window_ms == 7 * 86_400_000
    db = config.policy_for("db")
    assert db.display_name == "Deutsche Bahn"
    assert db.configured
    assert db.sla_ms == 3_600_000 and db.ignore_after_ms == 86_400_000
    assert db.calendar is not None
    assert db.calendar.tz == "Europe/Berlin"
    assert db.calendar.hours[0] == (("06:00", "22:00"),)
    assert db.calendar.hours[6] == ()
    assert date(2026, 12, 25) in db.calendar.holidays
    telekom = config.policy_for("telekom")
    assert telekom.sla_ms == 30 * 60_000 and telekom.ignore_after_ms == 12 * 3_600_000
    assert telekom.calendar is None and telekom.timezone == "Europe/Berlin"


def test_accounts_compare_case_insensitively() -> None:
    config = parse_brand_config('[brands.db]\naccounts = ["DB_Bahn", "@DB_Info"]\n')
    assert config.is_brand_account("db", "db_bahn")
    assert config.is_brand_account("db", "@DB_BAHN")
    assert config.is_brand_account("db", "db_info")
    assert not config.is_brand_account("db", "DB_Bahnhof")
    assert not config.is_brand_account("other", "DB_Bahn")


def test_unknown_brand_gets_defaults_and_is_flagged() -> None:
    config = parse_brand_config('[defaults]\nsla = "2h"\nignore_after = "2d"\n')
    policy = config.policy_for("acme")
    assert not policy.configured
    assert policy.display_name == "acme"
    assert (policy.sla_ms, policy.ignore_after_ms) == (7_200_000, 2 * 86_400_000)
    assert policy.calendar is None
    assert config.budgets("acme") == (7_200_000, 2 * 86_400_000, None)
    default = default_brand_config()
    assert default.brands == {}
    assert default.policy_for("x").sla_ms == 3_600_000
    assert default.policy_for("x").ignore_after_ms == 86_400_000
    assert default.share_window_ms == 7 * 86_400_000


def test_brand_inherits_defaults() -> None:
    config = parse_brand_config('[defaults]\nsla = "15m"\n[brands.a]\nname = "A"\n')
    assert config.policy_for("a").sla_ms == 15 * 60_000
    assert config.policy_for("a").ignore_after_ms == 86_400_000


@pytest.mark.parametrize(("text", "expected"), [
    ("1h", 3_600_000), ("90m", 5_400_000), ("3600s", 3_600_000), ("7d", 604_800_000),
    ("1h30m", 5_400_000), ("1d2h3m4s", 93_784_000),
])
def test_durations(text: str, expected: int) -> None:
    assert parse_duration_ms(text) == expected
    assert parse_duration_ms(format_duration(expected)) == expected


@pytest.mark.parametrize(("text", "message"), [
    ('[brands.db]\nsla = "1x"\n',
     "brands.toml: brands.db.sla: '1x' is not a duration (use e.g. '1h', '90m', '3600s')"),
    ('[brands.db]\nsla = "0s"\n', "brands.toml: brands.db.sla: '0s' must be longer than zero"),
    ('[brands.db]\nsla = 3600\n', "brands.toml: brands.db.sla: 3600 is not a duration"),
    ('[brands.db]\nsla_ms = "1h"\n',
     "brands.toml: brands.db.sla_ms: unknown key (allowed: accounts, bluesky, business_hours, "
     "due_soon, hashtags, holidays, ignore_after, ignore_soon, keywords, mastodon, name, sla, "
     "timezone); did you mean 'sla'?"),
    ('[brands.db]\nsla = "30m"\ndue_soon = "30m"\n',
     "brands.toml: brands.db.due_soon: 30m is not shorter than sla (30m): the warning would "
     "come at once"),
    ('[brands.db]\nignore_soon = "2d"\n',
     "brands.toml: brands.db.ignore_soon: 2d is not shorter than ignore_after (1d)"),
    ('[defaults]\ndue_soon = "soon"\n', "brands.toml: defaults.due_soon: 'soon' is not a "
     "duration"),
    ('[brands.db.bluesky]\ndids = ["did:plc:short"]\n',
     "brands.toml: brands.db.bluesky.dids[0]: 'did:plc:short' is not a DID"),
    ('[brands.db.bluesky]\ndid = ["did:plc:ewvi7nxzyoun6zhxrhs64oiz"]\n',
     "brands.toml: brands.db.bluesky.did: unknown key (allowed: dids, handles); did you mean "
     "'dids'?"),
    ('[brands.db.bluesky]\nhandles = ["not a handle"]\n',
     "brands.toml: brands.db.bluesky.handles[0]: 'not a handle' is not a handle"),
    ('[brands.db.mastodon]\naccounts = ["bahn"]\n',
     "brands.toml: brands.db.mastodon.accounts[0]: 'bahn' is not an account (e.g. "
     "\"bahn@social.example\")"),
    ('[brands.db]\nmastodon = "bahn@social.example"\n',
     "brands.toml: brands.db.mastodon: must be a table"),
    ('[brands.db]\nhashtags = ["two words"]\n',
     "brands.toml: brands.db.hashtags[0]: 'two words' is not a hashtag"),
    ('[brands.db]\nkeywords = [" Bahn"]\n',
     "brands.toml: brands.db.keywords[0]: ' Bahn' is not a keyword"),
    ('[brand.db]\nsla = "1h"\n', "brands.toml: brand: unknown key (allowed: brands, defaults); "
     "did you mean 'brands'?"),
    ('[defaults]\nsla_window = "1h"\n', "brands.toml: defaults.sla_window: unknown key"),
    ('[defaults]\nsla = "2h"\nignore_after = "1h"\n', "brands.toml: defaults.ignore_after:"),
    ('[brands.db]\nsla = "2h"\nignore_after = "1h"\n',
     "brands.toml: brands.db.ignore_after: 1h is shorter than the SLA (2h)"),
    ('[brands."-db"]\n', "brands.toml: brands.-db: '-db' is not a brand key"),
    ('[brands.db]\naccounts = "DB_Bahn"\n', "brands.toml: brands.db.accounts: must be a list"),
    ('[brands.db]\naccounts = ["DB Bahn"]\n', "brands.toml: brands.db.accounts[0]:"),
    ('[brands.db]\nname = ""\n', "brands.toml: brands.db.name: must be a non-empty string"),
    ('[brands.db]\ntimezone = "Europe/Berln"\n',
     "brands.toml: brands.db.timezone: 'Europe/Berln' is not a known time zone"),
    ('[brands.db]\nholidays = ["2026-12-25"]\n',
     "brands.toml: brands.db.holidays: has no effect without business_hours"),
    ('[brands.db.business_hours]\nmon = "09:00-17:00"\n',
     "brands.toml: brands.db.business_hours.tue: is missing"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "9-17"\ntue = "closed"\n'
     'wed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\nsun = "closed"\n',
     "brands.toml: brands.db.business_hours.mon: '9' is not HH:MM"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "17:00-09:00"\n'
     'tue = "closed"\nwed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\n'
     'sun = "closed"\n',
     "brands.toml: brands.db.business_hours.mon: opening 17:00 is not before closing 09:00"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "09:00-12:00,11:00-13:00"'
     '\ntue = "closed"\nwed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\n'
     'sun = "closed"\n', "brands.toml: brands.db.business_hours.mon: interval 11:00-13:00 "
     "overlaps"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "closed"\ntue = "closed"\n'
     'wed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\nsun = "closed"\n',
     "brands.toml: brands.db.business_hours: every day is closed"),
    ('[brands.db.business_hours]\nmon = "09:00-17:00"\ntue = "closed"\nwed = "closed"\n'
     'thu = "closed"\nfri = "closed"\nsat = "closed"\nsun = "closed"\n',
     "brands.toml: brands.db.timezone: is required with business_hours"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "09:00-17:00"\n'
     'tue = "closed"\nwed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\n'
     'sun = "closed"\nholidays = ["2026-13-01"]\n',
     "brands.toml: brands.db.business_hours.holidays[0]: '2026-13-01' is not a date"),
    ('[brands.db]\ntimezone = "UTC"\n[brands.db.business_hours]\nmon = "09:00-17:00"\n'
     'tue = "closed"\nwed = "closed"\nthu = "closed"\nfri = "closed"\nsat = "closed"\n'
     'sunday = "closed"\n', "brands.toml: brands.db.business_hours.sunday: unknown key"),
    ("[brands.db\n", "brands.toml: not valid TOML"),
])
def test_errors_name_file_brand_and_field(text: str, message: str) -> None:
    with pytest.raises(BrandConfigError) as info:
        parse_brand_config(text, source="brands.toml")
    assert str(info.value).startswith(message), str(info.value)


def test_business_hours_variants() -> None:
    text = (
        '[brands.db]\ntimezone = "Europe/Berlin"\nholidays = [2026-12-25]\n'
        '[brands.db.business_hours]\nmon = "08:00-12:00, 13:00-17:00"\ntue = "00:00-24:00"\n'
        'wed = "CLOSED"\nthu = "closed"\nfri = "closed"\nsat = "closed"\nsun = "closed"\n'
    )
    cal = parse_brand_config(text).policy_for("db").calendar
    assert cal is not None
    assert cal.hours[0] == (("08:00", "12:00"), ("13:00", "17:00"))
    assert cal.hours[1] == (("00:00", "24:00"),)
    assert cal.hours[2] == ()
    assert cal.holidays == frozenset({date(2026, 12, 25)})


def test_platform_identities_hashtags_and_keywords() -> None:
    config = parse_brand_config(
        '[brands.db]\naccounts = ["DB_Bahn"]\nhashtags = ["#DBhilft", "bahn"]\n'
        'keywords = ["Deutsche Bahn", "Deutsche Bahn"]\n'
        '[brands.db.bluesky]\ndids = ["did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:bahn.example"]'
        '\nhandles = ["@Bahn.bsky.social"]\n'
        '[brands.db.mastodon]\naccounts = ["@DB@Social.Example"]\n')
    db = config.brands["db"]
    assert db.bluesky_dids == {"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:bahn.example"}
    assert db.bluesky_handles == {"bahn.bsky.social"}
    assert db.mastodon_accounts == {"db@social.example"}
    assert db.hashtags == {"dbhilft", "bahn"}
    assert db.keywords == ("Deutsche Bahn",)
    # A record whose author handle is one of the platform identities is the brand's.
    assert config.is_brand_account("db", "did:plc:ewvi7nxzyoun6zhxrhs64oiz")
    assert config.is_brand_account("db", "DB@social.example")
    assert not config.is_brand_account("db", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")


def test_warning_lead_times_default_explicit_and_cut_for_short_budgets() -> None:
    config = parse_brand_config(
        '[defaults]\ndue_soon = "20m"\n'
        '[brands.db]\nsla = "1h"\nignore_after = "1d"\nignore_soon = "3h"\n'
        '[brands.quick]\nsla = "10m"\nignore_after = "30m"\n')
    db, quick = config.brands["db"], config.brands["quick"]
    assert (db.due_soon_ms, db.ignore_soon_ms) == (20 * MINUTE_MS, 3 * HOUR_MS)
    assert config.warning_budgets("db") == (40 * MINUTE_MS, 21 * HOUR_MS)
    # Defaults longer than a brand's budget would warn at creation: cut to half the budget.
    assert (quick.due_soon_ms, quick.ignore_soon_ms) == (5 * MINUTE_MS, 15 * MINUTE_MS)
    assert config.warning_budgets("quick") == (5 * MINUTE_MS, 15 * MINUTE_MS)
    # Unconfigured brands: the defaults (1 h SLA, 24 h ignore deadline).
    assert config.warning_budgets("other") == (40 * MINUTE_MS, 23 * HOUR_MS)
