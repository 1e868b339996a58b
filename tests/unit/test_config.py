"""Configuration: one prefix, defaults for every service, a signing key that never shows."""

from __future__ import annotations

import json
import logging

import pytest
from eth_account import Account
from pydantic import ValidationError

from platform_core.chain.keys import SigningKeyError
from platform_core.config import Settings
from platform_core.errors import ErrorCode

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


# Several wallets: throwaway keys made up for these tests, their addresses derived here.
KEYS = ["0x" + f"{n:02x}" * 32 for n in (0x51, 0x52, 0x53)]
ADDRESSES = [Account.from_key(key).address for key in KEYS]


def test_signing_keys_by_address_from_a_json_map(monkeypatch: pytest.MonkeyPatch) -> None:
    # Addresses in any case: they are filed under their checksum form.
    mapping = {ADDRESSES[0].lower(): KEYS[0], ADDRESSES[1]: KEYS[1]}
    monkeypatch.setenv("SEP_SIGNING_KEYS", json.dumps(mapping))
    monkeypatch.delenv("SEP_SIGNING_KEY", raising=False)
    keys = Settings().load_signing_keys()
    assert {a: k.get_secret_value() for a, k in keys.items()} == {
        ADDRESSES[0]: KEYS[0],
        ADDRESSES[1]: KEYS[1],
    }


def test_the_single_key_is_one_wallet_among_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEP_SIGNING_KEY", KEY)
    monkeypatch.setenv("SEP_SIGNING_KEYS", json.dumps({ADDRESSES[0]: KEYS[0]}))
    keys = Settings().load_signing_keys()
    assert sorted(keys) == sorted([Account.from_key(KEY).address, ADDRESSES[0]])
    monkeypatch.delenv("SEP_SIGNING_KEYS")
    assert list(Settings().load_signing_keys()) == [Account.from_key(KEY).address]
    monkeypatch.delenv("SEP_SIGNING_KEY")
    assert Settings().load_signing_keys() == {}  # no key: no wallet, no error


def test_signing_keys_from_a_keystore_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for key in KEYS:
        keystore = Account.encrypt(key, "one password", kdf="pbkdf2", iterations=2)
        (tmp_path / f"{keystore['address']}.json").write_text(json.dumps(keystore))
    (tmp_path / ".hidden").write_text("not a keystore")  # hidden files are not read
    monkeypatch.setenv("SEP_KEYSTORE_DIR", str(tmp_path))
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "one password")
    settings = Settings()
    keys = settings.load_signing_keys()
    assert {a: k.get_secret_value() for a, k in keys.items()} == dict(
        zip(ADDRESSES, KEYS, strict=True)
    )
    assert "one password" not in repr(settings)


def test_a_keystore_folder_needs_its_password_and_the_right_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("SEP_KEYSTORE_DIR", str(tmp_path))
    with pytest.raises(ValidationError, match="SEP_KEYSTORE_PASSWORD"):
        Settings()
    keystore = Account.encrypt(KEYS[0], "right", kdf="pbkdf2", iterations=2)
    (tmp_path / "wallet.json").write_text(json.dumps(keystore))
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(SigningKeyError, match=r"wallet\.json does not decrypt") as caught:
        Settings().load_signing_keys()
    assert caught.value.code is ErrorCode.SIGNING_KEY_INVALID and not caught.value.retryable


def test_a_keystore_whose_address_is_not_its_keys_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    keystore = Account.encrypt(KEYS[0], "pw", kdf="pbkdf2", iterations=2)
    keystore["address"] = ADDRESSES[1][2:].lower()  # filed under another wallet
    (tmp_path / "wallet.json").write_text(json.dumps(keystore))
    monkeypatch.setenv("SEP_KEYSTORE_DIR", str(tmp_path))
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "pw")
    with pytest.raises(SigningKeyError, match="not the key of"):
        Settings().load_signing_keys()


def test_a_key_filed_under_another_address_is_a_clear_error_that_shows_no_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "SEP_SIGNING_KEYS", json.dumps({ADDRESSES[0]: KEYS[0], ADDRESSES[1]: KEYS[2]})
    )
    settings = Settings()
    with pytest.raises(SigningKeyError) as caught:
        settings.load_signing_keys()
    message = str(caught.value)
    assert ADDRESSES[1] in message and "another address's key" in message
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").exception("load failed", exc_info=caught.value)
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    dumps = [
        repr(settings),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
    ]
    rendered = [message, repr(caught.value), caplog.text, *dumps]
    for text in rendered:
        for key in KEYS:
            assert key[2:] not in text


def test_a_malformed_key_or_address_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "0x" + "ab" * 31  # one byte short: not a key, but secret all the same
    monkeypatch.setenv("SEP_SIGNING_KEYS", json.dumps({ADDRESSES[0]: secret}))
    with pytest.raises(SigningKeyError) as caught:
        Settings().load_signing_keys()
    assert secret[2:] not in str(caught.value) and ADDRESSES[0] in str(caught.value)
    # A validation error (a bad address, two single-key sources) never shows its input.
    monkeypatch.setenv("SEP_SIGNING_KEYS", json.dumps({"0xnot-an-address": KEYS[0]}))
    with pytest.raises(ValidationError) as invalid:
        Settings()
    assert "signing_keys" in str(invalid.value) and KEYS[0][2:] not in str(invalid.value)
    monkeypatch.delenv("SEP_SIGNING_KEYS")
    monkeypatch.setenv("SEP_SIGNING_KEY", KEYS[1])
    monkeypatch.setenv("SEP_KEYSTORE_PATH", "/nowhere/k.json")
    monkeypatch.setenv("SEP_KEYSTORE_PASSWORD", "pw")
    with pytest.raises(ValidationError, match="not both") as both:
        Settings()
    assert KEYS[1][2:] not in str(both.value)


def test_in_flight_bound_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_in_flight == 8
    monkeypatch.setenv("SEP_MAX_IN_FLIGHT", "3")
    assert Settings().max_in_flight == 3
    monkeypatch.setenv("SEP_MAX_IN_FLIGHT", "0")
    with pytest.raises(ValidationError, match="max_in_flight"):
        Settings()
