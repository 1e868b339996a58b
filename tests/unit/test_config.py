"""Configuration: one prefix, defaults for every service, a signing key that never shows."""

from __future__ import annotations

import json
import logging

import pytest
from eth_account import Account
from pydantic import ValidationError

from platform_core.config import Settings

KEY = "0x" + "4c" * 32  # a throwaway key made up for this test


def test_defaults_cover_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEP_NATS_URL", "SEP_REDIS_URL", "SEP_POSTGRES_DSN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.nats_url.startswith("nats://")
    assert settings.redis_url.startswith("redis://")
    assert settings.postgres_dsn.startswith("postgresql://")
    assert 42161 in settings.known_chain_ids
    assert settings.signing_key is None


def test_environment_overrides_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEP_NATS_URL", "nats://10.0.0.1:4222")
    monkeypatch.setenv("NATS_URL", "nats://ignored:1")  # no prefix: not ours
    monkeypatch.setenv("SEP_API_PORT", "9001")
    settings = Settings()
    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.api_port == 9001


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEP_API_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="api_port"):
        Settings()


def test_signing_key_is_masked_everywhere(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SEP_SIGNING_KEY", KEY)
    settings = Settings()
    assert settings.load_signing_key().get_secret_value() == KEY
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    rendered = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        caplog.text,
        json.dumps(settings.model_dump(mode="json")),
    ]
    for text in rendered:
        assert KEY not in text and KEY[2:] not in text


def test_signing_key_from_a_keystore_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    keystore = Account.encrypt(KEY, "correct horse", kdf="pbkdf2", iterations=2)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(keystore))
    monkeypatch.setenv("SEP_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "correct horse")
    settings = Settings()
    assert settings.load_signing_key().get_secret_value() == KEY
    assert "correct horse" not in repr(settings)


def test_key_sources_are_exclusive_and_complete(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SEP_KEYSTORE_PATH", str(tmp_path / "k.json"))
    with pytest.raises(ValidationError, match="SEP_KEYSTORE_PASSWORD"):
        Settings()
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "pw")
    monkeypatch.setenv("SEP_SIGNING_KEY", KEY)
    with pytest.raises(ValidationError, match="not both"):
        Settings()


def test_no_key_configured_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEP_SIGNING_KEY", raising=False)
    with pytest.raises(LookupError, match="no signing key"):
        Settings().load_signing_key()
