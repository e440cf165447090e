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


def test_webhook_mode_needs_https_and_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPDIGEST_WEBHOOK_URL", "http://bot.example.org/tg")
    with pytest.raises(SettingsError, match=r"CHIPDIGEST_WEBHOOK_URL.*https://"):
        load_settings()
    monkeypatch.setenv("CHIPDIGEST_WEBHOOK_URL", "https://bot.example.org/tg/hook")
    monkeypatch.setenv("CHIPDIGEST_WEBHOOK_SECRET", "short")
    with pytest.raises(SettingsError, match="CHIPDIGEST_WEBHOOK_SECRET must be") as info:
        load_settings()
    assert "short" not in str(info.value)
    monkeypatch.setenv("CHIPDIGEST_WEBHOOK_SECRET", "a-long-enough_secret-123")
    assert load_settings().webhook_path == "tg/hook"


def test_every_setting_is_documented_in_the_env_example() -> None:
    from pathlib import Path

    from bot.config import Settings

    example = (Path(__file__).parent.parent / "deploy" / ".env.example").read_text("utf-8")
    for name in Settings.model_fields:
        assert f"CHIPDIGEST_{name.upper()}=" in example, name


def test_json_logs_never_carry_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import logging

    from bot.logs import configure_logging

    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_TOKEN", "123456:AAE-very-secret-token")
    monkeypatch.setenv("CHIPDIGEST_LOG_FORMAT", "json")
    configure_logging(load_settings())
    try:
        logging.getLogger("httpx").warning(
            "HTTP Request: POST %s", "https://api.telegram.org/bot123456:AAE-very-secret-token/x"
        )
        try:
            raise ValueError("The token `123456:AAE-very-secret-token` was rejected")
        except ValueError:
            logging.getLogger("telegram.ext").exception("Bootstrap failed")
        first, second = (json.loads(x) for x in capsys.readouterr().err.strip().splitlines())
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "chipdigest"]:
            root.removeHandler(handler)
    assert first["level"] == "WARNING" and first["logger"] == "httpx"
    assert "very-secret" not in first["message"] and "[secret]" in first["message"]
    assert "very-secret" not in second["exc_info"] and "[secret]" in second["exc_info"]
