from __future__ import annotations

import ipaddress

import pytest

from bot.config import SettingsError, load_settings


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.effective_database_url == "sqlite:///data/chipdigest.db"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.telegram_token is None
    assert settings.fetch_options().allow_private is False


def test_admin_ids_accept_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPDIGEST_ADMIN_IDS", "12345, 67890")
    assert load_settings().admin_ids == [12345, 67890]


def test_private_sources_can_be_a_list_of_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "10.0.0.0/8, 192.168.1.5")
    options = load_settings().fetch_options()
    assert options.allow_private is False
    assert ipaddress.ip_address("10.1.2.3") in options.private_allowlist[0]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CHIPDIGEST_ADMIN_IDS", "alice", "CHIPDIGEST_ADMIN_IDS"),
        ("CHIPDIGEST_DATABASE_URL", "chipdigest.db", "expected a URL"),
        ("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "maybe", "expected true, false or networks"),
        ("CHIPDIGEST_RELEVANCE_THRESHOLD", "-1", "CHIPDIGEST_RELEVANCE_THRESHOLD"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as info:
        load_settings()
    assert name in str(info.value) and "\n" not in str(info.value)


def test_a_bad_token_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_TOKEN", "123:SECRET")
    settings = load_settings()
    assert "SECRET" not in repr(settings)
