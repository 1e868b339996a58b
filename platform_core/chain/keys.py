"""The signing keys of several wallets, gathered by address (`Settings.load_signing_keys`).

Each key is checked against the address it stands for: an entry of `SEP_SIGNING_KEYS` filed
under another address, a keystore file whose `address` field is not its key's, or a keystore
that does not decrypt is a `SigningKeyError` at load, before anything is signed. Keys stay
`SecretStr`; messages name addresses and files, never a key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from pydantic import SecretStr

from platform_core.errors import ErrorCode, PlatformError


class SigningKeyError(PlatformError, ValueError):
    """A configured key that cannot be used: not a private key, not the key of the address
    it is filed under, or a keystore that does not decrypt."""

    code = ErrorCode.SIGNING_KEY_INVALID


def address_of(key: SecretStr, where: str) -> str:
    """The checksum address of `key`; `where` names its source in the error."""
    try:
        return str(Account.from_key(key.get_secret_value()).address)
    except Exception:  # the library's message may echo the input; ours never does
        raise SigningKeyError(f"{where}: not a valid secp256k1 private key") from None


def keystore_folder(folder: Path, password: SecretStr) -> dict[str, SecretStr]:
    """Every keystore file in `folder` (hidden files aside), decrypted with `password`,
    by address."""
    if not folder.is_dir():
        raise SigningKeyError(f"SEP_KEYSTORE_DIR {folder} is not a folder")
    keys: dict[str, SecretStr] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            keystore = json.loads(path.read_text())
            raw = Account.decrypt(keystore, password.get_secret_value())
        except Exception as exc:
            raise SigningKeyError(
                f"keystore {path} does not decrypt with SEP_KEYSTORE_PASSWORD"
                f" ({type(exc).__name__})"
            ) from None
        key = SecretStr("0x" + bytes(raw).hex())
        address = address_of(key, f"keystore {path}")
        filed = str(keystore.get("address") or "").lower().removeprefix("0x")
        if filed and filed != address[2:].lower():
            raise SigningKeyError(f"keystore {path}: its key is not the key of 0x{filed}")
        keys[address] = key
    return keys


def gather_keys(
    single: SecretStr | None,
    mapping: Mapping[str, SecretStr],
    folder: Path | None,
    password: SecretStr | None,
) -> dict[str, SecretStr]:
    """One key per wallet from every source: the single key, the address -> key map
    (checksum addresses) and the keystore folder."""
    keys: dict[str, SecretStr] = {}
    if single is not None:
        keys[address_of(single, "SEP_SIGNING_KEY / SEP_KEYSTORE_PATH")] = single
    for address, key in mapping.items():
        if address_of(key, f"SEP_SIGNING_KEYS[{address}]") != address:
            raise SigningKeyError(
                f"SEP_SIGNING_KEYS: the key filed under {address} is another address's key"
            )
        keys[address] = key
    if folder is not None:
        if password is None:
            raise SigningKeyError("SEP_KEYSTORE_DIR needs SEP_KEYSTORE_PASSWORD")
        keys.update(keystore_folder(folder, password))
    return keys
